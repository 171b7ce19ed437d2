"""The Ray transport: handle calls to the supervisor actor, inside the cluster."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import ray

from ..analytics.query import AnalyticsQuery, AnalyticsResult
from ..errors import AnalyticsUnavailable, EngineUnavailable, PyflowError
from ..models import (
    CreateOptions,
    InstanceDetail,
    InstancePage,
    InstanceStatusInfo,
    WorkflowInfo,
)
from ..subscriptions.pull import AckResult, DeadLetter, PullResult
from .transport import ControlAction

SUPERVISOR_NAME = "pyflow-supervisor"  # same as runtime.supervisor (no import: keep clients light)
RECONNECT_SECONDS = 30.0


class RayTransport:
    """Calls the supervisor directly. Survives a supervisor restart (it retries)."""

    def __init__(self, handle: Any | None, name: str = SUPERVISOR_NAME, namespace: str = "pyflow"):
        self._handle, self._name, self._namespace = handle, name, namespace

    @classmethod
    def connect(cls, address: str | None = None, namespace: str = "pyflow") -> RayTransport:
        """Connect to the engine in a running Ray cluster (``address`` or the current one)."""
        if not ray.is_initialized():
            ray.init(address=address or "auto", namespace=namespace, log_to_driver=False)
        transport = cls(None, namespace=namespace)
        transport._resolve()
        return transport

    @classmethod
    def lazy(cls, name: str, namespace: str) -> RayTransport:
        """A transport that finds the supervisor on first use (inside instance actors)."""
        return cls(None, name, namespace)

    def _resolve(self) -> Any:
        if self._handle is None:
            try:
                self._handle = ray.get_actor(self._name, namespace=self._namespace)
            except ValueError:
                raise EngineUnavailable(
                    f"no pyflow engine in this Ray cluster (namespace {self._namespace!r}): "
                    "start one with `pyflow dev` or pyflow_actors.start_local()"
                ) from None
        return self._handle

    async def _call(self, method: str, *args: Any) -> Any:
        deadline = time.monotonic() + RECONNECT_SECONDS
        delay = 0.05
        while True:
            try:
                handle = self._resolve()
                return await getattr(handle, method).remote(*args)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if hasattr(exc, "cause") else None
                if isinstance(cause, PyflowError):
                    raise cause from None
                raise PyflowError(f"engine error in {method}: {cause or exc}") from None
            except (ray.exceptions.RayActorError, EngineUnavailable):
                # The supervisor is restarting (it is detached, restarts forever).
                if time.monotonic() > deadline:
                    raise EngineUnavailable(
                        "the pyflow supervisor did not come back in time"
                    ) from None
                self._handle = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def list_workflows(self) -> list[WorkflowInfo]:
        return await self._call("list_workflows")

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        return await self._call("get_workflow", workflow)

    async def delete_workflow(self, workflow: str) -> None:
        await self._call("delete_workflow", workflow)

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        # Ids are fixed here and a request id sent along, so that a call retried
        # across a supervisor restart is recognised instead of failing as a duplicate.
        fixed = [
            o if o.id is not None else CreateOptions(id=str(uuid.uuid4()), params=o.params)
            for o in options
        ]
        return await self._call("create", workflow, fixed, batch, uuid.uuid4().hex)

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        return await self._call("status", workflow, instance_id)

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        return await self._call("describe", workflow, instance_id)

    async def list_instances(self, workflow: str, **filters: Any) -> InstancePage:
        return await self._call(
            "list_instances",
            workflow,
            filters.get("status"),
            filters.get("page", 1),
            filters.get("per_page", 50),
            filters.get("reverse", False),
            filters.get("created_after"),
            filters.get("created_before"),
        )

    async def control(
        self, workflow: str, instance_id: str, action: ControlAction
    ) -> InstanceStatusInfo:
        return await self._call("control", workflow, instance_id, action)

    async def send_event(
        self, workflow: str, instance_id: str, event_type: str, payload: Any
    ) -> None:
        # The event's id is fixed here, so that a call retried across a supervisor
        # restart (the first try committed, its reply was lost) is not a second event.
        await self._call("send_event", workflow, instance_id, event_type, payload, uuid.uuid4().hex)

    async def dead_letters(self, subscription: str | None, limit: int) -> list[DeadLetter]:
        """Subscription messages that kept failing, newest first."""
        try:
            return await self._call("dead_letters", subscription, limit)
        except AttributeError:  # a supervisor that delivers no subscriptions keeps none
            return []

    async def stats(self) -> dict[str, Any]:
        return await self._call("stats")

    async def analytics_query(self, query: AnalyticsQuery) -> AnalyticsResult:
        """One GraphQL dataset query, answered by the supervisor's analytics store."""
        try:
            return await self._call("analytics_query", query)
        except AttributeError:  # a supervisor without the method (older engine)
            raise AnalyticsUnavailable(
                "this engine does not answer analytics queries yet"
            ) from None

    async def queue_pull(
        self, queue: str, batch_size: int, visibility_timeout_ms: float
    ) -> PullResult:
        """Lease messages of a subscription pull queue (the supervisor owns the outbox)."""
        try:
            return await self._call("queue_pull", queue, batch_size, visibility_timeout_ms)
        except AttributeError:
            raise EngineUnavailable("this engine does not serve subscription queues yet") from None

    async def queue_ack(
        self, queue: str, acks: list[str], retries: list[tuple[str, float]]
    ) -> AckResult:
        try:
            return await self._call("queue_ack", queue, acks, retries)
        except AttributeError:
            raise EngineUnavailable("this engine does not serve subscription queues yet") from None

    async def close(self) -> None:
        self._handle = None
