"""The client API: ``AsyncClient`` first, ``Client`` as its synchronous facade.

.. code-block:: python

    client = Client.connect()                       # inside the Ray cluster
    client = Client.connect(url="http://127.0.0.1:8787", token="...")  # via the gateway
    onboarding = client.workflow("onboarding")
    instance = onboarding.create(id="user-42", params={"email": "a@example.com"})
    instance.send_event("approved", {"by": "ops"})
    print(instance.status().status)
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ..constants import DEFAULT_NAMESPACE
from ..errors import InstanceNotFound
from ..limits import validate_event_type
from ..models import (
    BatchCreateError,
    BatchDeleteResult,
    InstanceDetail,
    InstanceLogs,
    InstancePage,
    InstanceStatusInfo,
    WorkflowInfo,
    WorkflowSettings,
)
from ..versions import VersionInfo
from .shapes import (
    UNSET,
    batch_entries,
    batch_options,
    create_options,
    event_arguments,
    restart_from,
    send_event_on_binding,
    terminate_rollback,
)
from .sync_loop import SyncLoop as _Loop
from .transport import Transport

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Async API


class AsyncInstance:
    """A handle on one instance. Cheap: holds only its ids and the transport."""

    def __init__(self, transport: Transport, workflow: str, instance_id: str) -> None:
        self._t, self.workflow, self.id = transport, workflow, instance_id

    async def status(self) -> InstanceStatusInfo:
        return await self._t.status(self.workflow, self.id)

    async def describe(self) -> InstanceDetail:
        """Status, params and the step history."""
        return await self._t.describe(self.workflow, self.id)

    async def pause(self, *, idempotency_key: str | None = None) -> None:
        """Pause it. Each control takes ``idempotency_key``: the same call sent
        again with the same key is applied once (see :mod:`pyflow_actors.idempotency`)."""
        await self._t.control(self.workflow, self.id, "pause", idempotency_key=idempotency_key)

    async def resume(self, *, idempotency_key: str | None = None) -> None:
        await self._t.control(self.workflow, self.id, "resume", idempotency_key=idempotency_key)

    async def terminate(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> None:
        """Terminate the instance (final). ``rollback=True`` (or Cloudflare's
        ``terminate({"rollback": True})``) first runs the rollback handlers of its
        finished steps, last started first; it shows ``rollingBack`` meanwhile."""
        rollback = terminate_rollback(options, rollback)
        await self._t.control(
            self.workflow, self.id, "terminate", rollback=rollback, idempotency_key=idempotency_key
        )

    async def restart(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        from_: Any = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Run the instance again from the top, or from a step: ``from_="charge"``,
        ``from_={"name": "charge", "count": 2, "type": "do"}`` (or Cloudflare's
        ``restart({"from": {...}})``). Steps begun before that step keep their
        results; :class:`~pyflow_actors.errors.StepNotFound` if it has no such step."""
        target = restart_from(options, from_)
        await self._t.control(
            self.workflow, self.id, "restart", target, idempotency_key=idempotency_key
        )

    async def delete(self) -> None:
        """Delete the instance and all it stored (a running one is stopped first, no
        rollback); raises :class:`~pyflow_actors.errors.InstanceNotFound` if it is gone."""
        result = await self._t.delete_instances(self.workflow, [self.id])
        if result.errors:
            raise InstanceNotFound(f"instance {self.id!r} not found in workflow {self.workflow!r}")

    async def send_event(self, type: Any, payload: Any = UNSET) -> None:  # noqa: A002 - Cloudflare's word
        """``send_event({"type": ..., "payload": ...})`` or ``send_event(type, payload)``."""
        event_type, payload = event_arguments(type, payload)
        validate_event_type(event_type)
        await self._t.send_event(self.workflow, self.id, event_type, payload)

    sendEvent = send_event  # noqa: N815 - Cloudflare's JavaScript spelling

    async def logs(self, after: int = 0, limit: int = 1000) -> InstanceLogs:
        """What the instance's code printed or logged: the last ``limit`` lines after ``after``."""
        return await self._t.instance_logs(self.workflow, self.id, after=after, limit=limit)

    async def wait(self, timeout: float = 60.0, poll: float = 0.05) -> InstanceStatusInfo:
        """Poll until the instance is complete, errored or terminated; return its status."""
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            status = await self.status()
            if status.is_final:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"instance {self.id!r} is still {status.status.value} after {timeout:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def __json__(self) -> dict[str, str]:
        return {"id": self.id, "workflow": self.workflow}

    def __repr__(self) -> str:
        return f"<instance {self.workflow}/{self.id}>"


@dataclass(frozen=True)
class AsyncBatchCreated:
    """What ``create_batch({...})`` (the object form) did: ``created`` and ``errors``."""

    created: list[AsyncInstance]
    errors: list[BatchCreateError]


class AsyncWorkflow:
    """A binding to one workflow: ``create``, ``create_batch``, ``get``, ``list``."""

    def __init__(self, transport: Transport, name: str, binding: str | None = None) -> None:
        self._t, self.name, self.binding = transport, name, binding

    async def create(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,  # noqa: A002
        params: Any = None,
    ) -> AsyncInstance:
        """``create({"id": ..., "params": ...})`` (Cloudflare's shape) or ``create(id=, params=)``."""
        [info] = await self._t.create(self.name, [create_options(options, id, params)], batch=False)
        return AsyncInstance(self._t, self.name, info.id)

    @overload
    async def create_batch(self, batch: Mapping[str, Any]) -> AsyncBatchCreated: ...

    @overload
    async def create_batch(self, batch: Iterable[Any]) -> list[AsyncInstance]: ...

    async def create_batch(
        self, batch: Iterable[Any] | Mapping[str, Any]
    ) -> list[AsyncInstance] | AsyncBatchCreated:
        """Create up to 100 instances.

        A list (Cloudflare's array form): ids that already exist are skipped (left
        out); an invalid entry refuses the call. A dict (the object form:
        ``{"instances": [...]}`` or ``{"count": N, "params": ...}``): each entry is
        created or refused on its own; the result has ``created`` (instances, in
        order) and ``errors`` (``{index, id, code, message}`` per refused entry).
        """
        if isinstance(batch, Mapping):
            return await self._create_entries(batch)
        infos = await self._t.create(self.name, batch_options(batch), batch=True)
        return [AsyncInstance(self._t, self.name, i.id) for i in infos]

    createBatch = create_batch  # noqa: N815 - Cloudflare's JavaScript spelling

    async def _create_entries(self, batch: Mapping[str, Any]) -> AsyncBatchCreated:
        options, indexes, errors = batch_entries(batch)
        result = await self._t.create_entries(self.name, options) if options else None
        if result is not None:
            errors += [e.shifted(indexes) for e in result.errors]
        created = [] if result is None else result.created
        return AsyncBatchCreated(
            [AsyncInstance(self._t, self.name, i.id) for i in created],
            sorted(errors, key=lambda e: e.index),
        )

    async def delete_batch(self, ids: Iterable[str]) -> BatchDeleteResult:
        """Delete up to 100 instances: ``result.deleted`` (``[{id}]``) and
        ``result.errors`` (``[{id, code, message}]``, e.g. an unknown id), per id given."""
        return await self._t.delete_instances(self.name, builtins.list(ids))

    deleteBatch = delete_batch  # noqa: N815 - Cloudflare's JavaScript spelling

    async def send_event(self, *args: Any, **kwargs: Any) -> None:
        """Not a binding method on Cloudflare either: the error says what to call."""
        raise send_event_on_binding(self.name, self.binding)

    async def get(self, id: str) -> AsyncInstance:  # noqa: A002
        """The instance with this id; raises ``InstanceNotFound`` if there is none."""
        await self._t.status(self.name, id)
        return AsyncInstance(self._t, self.name, id)

    async def list(self, **filters: Any) -> InstancePage:
        return await self._t.list_instances(self.name, **filters)

    async def info(self) -> WorkflowInfo:
        return await self._t.get_workflow(self.name)

    async def update(
        self,
        *,
        concurrency: int | None = None,
        default_retention: Any = None,
        max_steps: int | None = None,
        schedules: Iterable[str] = (),
    ) -> WorkflowInfo:
        """Replace the workflow's settings (each one left out is unset), as Cloudflare's
        ``PUT .../workflows/{name}``: its running cap, the default retention of its
        instances (``{"success_retention": "3 days", "error_retention": ...}``), its
        step limit and its cron schedules."""
        settings = WorkflowSettings(
            max_running=concurrency,
            default_retention=default_retention,
            max_steps=max_steps,
            schedules=tuple(schedules),
        )
        return await self._t.update_workflow(self.name, settings)

    async def versions(self) -> builtins.list[VersionInfo]:
        """The workflow's versions, newest first (without graphs)."""
        return await self._t.list_versions(self.name)

    async def version(self, version_id: str) -> VersionInfo:
        """One version with its graph (``version.graph``); raises ``VersionNotFound``."""
        return await self._t.get_version(self.name, version_id)

    def __repr__(self) -> str:
        return f"<workflow {self.name}>"


class AsyncClient:
    """Async client. ``await AsyncClient.connect()`` (Ray) or ``connect(url=, token=)`` (HTTP)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    async def connect(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        account: str | None = None,
        address: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> AsyncClient:
        if url is not None:
            from .http_transport import HttpTransport

            return cls(HttpTransport(url, token=token, account=account))
        from .ray_transport import RayTransport

        return cls(await asyncio.to_thread(RayTransport.connect, address, namespace))

    def workflow(self, name: str) -> AsyncWorkflow:
        return AsyncWorkflow(self.transport, name)

    async def workflows(self) -> list[WorkflowInfo]:
        return await self.transport.list_workflows()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# ---------------------------------------------------------------------------
# Synchronous facade: the async API on a private event loop thread.


class Instance:
    """Synchronous handle on one instance (see :class:`AsyncInstance`)."""

    def __init__(self, loop: _Loop, inner: AsyncInstance) -> None:
        self._loop, self._a = loop, inner
        self.id, self.workflow = inner.id, inner.workflow

    def status(self) -> InstanceStatusInfo:
        return self._loop.run(self._a.status())

    def describe(self) -> InstanceDetail:
        return self._loop.run(self._a.describe())

    def pause(self, *, idempotency_key: str | None = None) -> None:
        self._loop.run(self._a.pause(idempotency_key=idempotency_key))

    def resume(self, *, idempotency_key: str | None = None) -> None:
        self._loop.run(self._a.resume(idempotency_key=idempotency_key))

    def terminate(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> None:
        key = idempotency_key
        self._loop.run(self._a.terminate(options, rollback=rollback, idempotency_key=key))

    def restart(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        from_: Any = None,
        idempotency_key: str | None = None,
    ) -> None:
        self._loop.run(self._a.restart(options, from_=from_, idempotency_key=idempotency_key))

    def send_event(self, type: Any, payload: Any = UNSET) -> None:  # noqa: A002
        self._loop.run(self._a.send_event(type, payload))

    def delete(self) -> None:
        self._loop.run(self._a.delete())

    def logs(self, after: int = 0, limit: int = 1000) -> InstanceLogs:
        return self._loop.run(self._a.logs(after, limit))

    def wait(self, timeout: float = 60.0) -> InstanceStatusInfo:
        return self._loop.run(self._a.wait(timeout))

    def __json__(self) -> dict[str, str]:
        return self._a.__json__()

    def __repr__(self) -> str:
        return repr(self._a)


@dataclass(frozen=True)
class BatchCreated:
    """What ``create_batch({...})`` (the object form) did: ``created`` and ``errors``."""

    created: list[Instance]
    errors: list[BatchCreateError]


class Workflow:
    """Synchronous binding to one workflow (see :class:`AsyncWorkflow`)."""

    def __init__(self, loop: _Loop, inner: AsyncWorkflow) -> None:
        self._loop, self._a, self.name = loop, inner, inner.name

    def create(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,  # noqa: A002
        params: Any = None,
    ) -> Instance:
        created = self._a.create(options, id=id, params=params)
        return Instance(self._loop, self._loop.run(created))

    @overload
    def create_batch(self, batch: Mapping[str, Any]) -> BatchCreated: ...

    @overload
    def create_batch(self, batch: Iterable[Any]) -> list[Instance]: ...

    def create_batch(
        self, batch: Iterable[Any] | Mapping[str, Any]
    ) -> list[Instance] | BatchCreated:
        result = self._loop.run(self._a.create_batch(batch))
        if isinstance(result, AsyncBatchCreated):
            return BatchCreated([Instance(self._loop, a) for a in result.created], result.errors)
        return [Instance(self._loop, a) for a in result]

    def get(self, id: str) -> Instance:  # noqa: A002
        return Instance(self._loop, self._loop.run(self._a.get(id)))

    def delete_batch(self, ids: Iterable[str]) -> BatchDeleteResult:
        return self._loop.run(self._a.delete_batch(ids))

    deleteBatch = delete_batch  # noqa: N815

    def list(self, **filters: Any) -> InstancePage:
        return self._loop.run(self._a.list(**filters))

    def info(self) -> WorkflowInfo:
        return self._loop.run(self._a.info())

    def update(
        self,
        *,
        concurrency: int | None = None,
        default_retention: Any = None,
        max_steps: int | None = None,
        schedules: Iterable[str] = (),
    ) -> WorkflowInfo:
        return self._loop.run(
            self._a.update(
                concurrency=concurrency,
                default_retention=default_retention,
                max_steps=max_steps,
                schedules=schedules,
            )
        )

    def versions(self) -> builtins.list[VersionInfo]:
        return self._loop.run(self._a.versions())

    def version(self, version_id: str) -> VersionInfo:
        return self._loop.run(self._a.version(version_id))

    def __repr__(self) -> str:
        return repr(self._a)


class Client:
    """Synchronous client for scripts and notebooks.

    ``Client.connect()`` talks to the engine in the current Ray cluster;
    ``Client.connect(url=..., token=...)`` goes through the HTTP gateway.
    """

    def __init__(self, transport_factory: Callable[[], Coroutine[Any, Any, AsyncClient]]) -> None:
        self._loop = _Loop()
        self.aio: AsyncClient = self._loop.run(transport_factory())

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        account: str | None = None,
        address: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> Client:
        return cls(
            lambda: AsyncClient.connect(
                url, token, account=account, address=address, namespace=namespace
            )
        )

    @classmethod
    def from_transport(cls, transport: Transport) -> Client:
        async def make() -> AsyncClient:
            return AsyncClient(transport)

        return cls(make)

    def workflow(self, name: str) -> Workflow:
        return Workflow(self._loop, self.aio.workflow(name))

    def workflows(self) -> list[WorkflowInfo]:
        return self._loop.run(self.aio.workflows())

    def close(self) -> None:
        try:
            self._loop.run(self.aio.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
