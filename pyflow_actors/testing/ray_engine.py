"""The same harness API on a real engine: a local Ray, through the public client only.

``@pytest.mark.pyflow_engine("ray")`` (or ``pytest --pyflow-engine=ray``) gives
a test a :class:`RayHarness` instead of the in-process one: the test's
workflows run as Ray instance actors with DuckDB journals in the test's tmp
dir, in real time. Mocks and the virtual clock exist only in-process; asking
for them here is a clear :class:`~pyflow_actors.errors.HarnessUnsupported`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..errors import HarnessUnsupported, HarnessWaitTimeout, StatusUnreachable, rebuild_error
from ..models import FINAL_STATUSES, InstanceDetail, InstanceStatus, InstanceStatusInfo, StepInfo

T = TypeVar("T")
_POLL = 0.05


class RayHarness:
    """Runs the test's workflows on a local Ray engine (started on the first ``start``)."""

    def __init__(
        self,
        storage: Path,
        *,
        vars: Mapping[str, Any] | None = None,  # noqa: A002 - pyflow.toml's [vars]
        wait_timeout: float = 60.0,
    ) -> None:
        self.storage, self.wait_timeout = storage, wait_timeout
        self.vars: dict[str, Any] = dict(vars or {})
        self._specs: dict[str, tuple[type, str | None]] = {}
        self._engine: Any = None  # pyflow_actors.runtime.local.LocalEngine
        self._client: Any = None  # pyflow_actors.client.AsyncClient
        self._configured: tuple[Any, ...] = ()
        self._ray_was_running = False
        # A namespace of its own: never reconfigures an engine already in this Ray.
        self._namespace = f"pyflow-test-{uuid.uuid4().hex[:8]}"

    @property
    def clock(self) -> Any:
        raise HarnessUnsupported("the virtual clock needs the in-process engine")

    def register(
        self, workflow: type, *, name: str | None = None, binding: str | None = None
    ) -> str:
        name = name or workflow.__name__.lower()
        self._specs[name] = (workflow, binding)
        return name

    def mock_step(self, name: str, **_: Any) -> None:
        raise HarnessUnsupported(f"mock_step({name!r}) needs the in-process engine")

    def mock_event(self, type: str, payload: Any = None) -> None:  # noqa: A002
        raise HarnessUnsupported("mock_event needs the in-process engine: use run.send_event")

    def disable_sleeps(self, *steps: str) -> None:
        raise HarnessUnsupported("disable_sleeps needs the in-process engine")

    def disable_retry_delays(self, *steps: str) -> None:
        raise HarnessUnsupported("disable_retry_delays needs the in-process engine")

    async def start(
        self,
        workflow: type | str,
        *,
        params: Any = None,
        id: str | None = None,  # noqa: A002 - Cloudflare's word
        env: Mapping[str, Any] | None = None,
    ) -> RayRun:
        if isinstance(workflow, str):
            name = workflow
        else:
            known = [n for n, (c, _) in self._specs.items() if c is workflow]
            name = known[0] if known else self.register(workflow)
        client = await self._connect({**self.vars, **(env or {})})
        instance = await client.workflow(name).create(id=id, params=params)
        return RayRun(instance, self.wait_timeout)

    async def _connect(self, vars: dict[str, Any]) -> Any:  # noqa: A002
        import ray

        from ..config import EngineConfig, WorkflowSpec
        from ..runtime.local import start_local

        specs = tuple(
            WorkflowSpec.of(n, c, **({"binding": b} if b else {}))
            for n, (c, b) in self._specs.items()
        )
        wanted = (specs, tuple(sorted(vars.items())))
        if self._engine is None or wanted != self._configured:
            # Starting (or updating) the engine blocks for a moment: it is test setup.
            config = EngineConfig(
                storage=self.storage,
                hibernate_after=1.0,
                namespace=self._namespace,
                workflows=specs,
                vars=vars,
            )
            if self._engine is None:
                self._ray_was_running = ray.is_initialized()
            self._engine, self._configured = start_local(config), wanted
            self._client = None
        if self._client is None:
            self._client = await self._engine.async_client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._engine is not None:
            if self._ray_was_running:
                import ray

                # Ray outlives this test: end the engine this harness started in it.
                ray.kill(self._engine.supervisor)
            self._engine.shutdown()


class RayRun:
    """An instance on the Ray engine, with the waits of :class:`~pyflow_actors.testing.HarnessRun`."""

    def __init__(self, instance: Any, wait_timeout: float) -> None:
        self._instance, self._timeout = instance, wait_timeout
        self.id: str = instance.id
        self.workflow: str = instance.workflow

    def __repr__(self) -> str:
        return f"<RayRun {self.workflow}/{self.id}>"

    async def status(self) -> InstanceStatusInfo:
        status: InstanceStatusInfo = await self._instance.status()
        return status

    async def describe(self) -> InstanceDetail:
        detail: InstanceDetail = await self._instance.describe()
        return detail

    async def steps(self) -> list[StepInfo]:
        return list((await self._instance.describe()).steps)

    async def wait_for_status(
        self, status: InstanceStatus | str, *, timeout: float | None = None
    ) -> InstanceStatusInfo:
        target = InstanceStatus(status)

        async def reached() -> InstanceStatusInfo | None:
            info = await self.status()
            if info.status == target:
                return info
            if info.status in FINAL_STATUSES:
                raise StatusUnreachable(
                    f"waited for status {target} of instance {self.id!r}, but it ended {info.status}"
                )
            return None

        return await _poll(reached, f"{self!r} to be {target}", timeout or self._timeout)

    async def wait(self, *, timeout: float | None = None) -> InstanceStatusInfo:
        async def final() -> InstanceStatusInfo | None:
            info = await self.status()
            return info if info.status in FINAL_STATUSES else None

        return await _poll(final, f"{self!r} to finish", timeout or self._timeout)

    async def wait_for_step(
        self, name: str, *, occurrence: int = 1, timeout: float | None = None
    ) -> Any:
        key = name if occurrence == 1 else f"{name}-{occurrence}"

        async def finished() -> StepInfo | None:
            step = next((s for s in await self.steps() if s.name == key), None)
            if step is not None and step.finished:
                return step
            if step is None and (await self.status()).status in FINAL_STATUSES:
                raise StatusUnreachable(f"waited for step {key!r}, but {self!r} ended")
            return None

        step = await _poll(finished, f"step {key!r} of {self!r}", timeout or self._timeout)
        if not step.success:
            error = step.error
            raise rebuild_error(error.name if error else "Error", error.message if error else "")
        return step.output

    async def wait_for_step_start(
        self, name: str, *, occurrence: int = 1, timeout: float | None = None
    ) -> None:
        key = name if occurrence == 1 else f"{name}-{occurrence}"

        async def started() -> bool | None:
            if any(s.name == key for s in await self.steps()):
                return True
            if (await self.status()).status in FINAL_STATUSES:
                raise StatusUnreachable(f"waited for step {key!r} to start, but {self!r} ended")
            return None

        await _poll(started, f"step {key!r} of {self!r} to start", timeout or self._timeout)

    async def send_event(self, type: str, payload: Any = None) -> None:  # noqa: A002
        await self._instance.send_event(type, payload)

    async def pause(self) -> None:
        await self._instance.pause()

    async def resume(self) -> None:
        await self._instance.resume()

    async def terminate(self, rollback: bool = False) -> None:
        await self._instance.terminate(rollback=rollback)

    async def restart(self) -> None:
        await self._instance.restart()


async def _poll(check: Callable[[], Awaitable[T | None]], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise HarnessWaitTimeout(f"waited {timeout:g}s for {what}")
        await asyncio.sleep(_POLL)
