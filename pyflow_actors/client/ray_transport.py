"""The Ray transport: handle calls to the supervisor actor, inside the cluster."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, TypeVar

import ray

from ..analytics.query import AnalyticsQuery, AnalyticsResult
from ..constants import DEFAULT_NAMESPACE, SUPERVISOR_NAME
from ..errors import EngineOutcomeUnknown, EngineUnavailable, PyflowError
from ..idempotency import control_request_id
from ..models import (
    BatchCreateResult,
    BatchDeleteResult,
    CreateOptions,
    InstanceDetail,
    InstanceLogs,
    InstancePage,
    InstanceStatusInfo,
    RestartFrom,
    WorkflowInfo,
    WorkflowSettings,
)
from ..subscriptions.pull import AckResult, DeadLetter, PullResult
from ..versions import VersionInfo
from .transport import ControlAction

RECONNECT_SECONDS = 30.0

T = TypeVar("T")


def _expect(reply: object, kind: type[T], method: str) -> T:
    """The supervisor's reply, checked to be what ``method`` promises."""
    if not isinstance(reply, kind):
        raise PyflowError(
            f"engine error in {method}: replied {type(reply).__name__}, expected {kind.__name__}"
        )
    return reply


def _expect_list(reply: object, kind: type[T], method: str) -> list[T]:
    items = _expect(reply, list, method)
    return [_expect(item, kind, method) for item in items]


class RayTransport:
    """Calls the supervisor directly. Survives a supervisor restart (it retries)."""

    def __init__(
        self, handle: Any | None, name: str = SUPERVISOR_NAME, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        self._handle, self._name, self._namespace = handle, name, namespace

    @classmethod
    def connect(
        cls, address: str | None = None, namespace: str = DEFAULT_NAMESPACE
    ) -> RayTransport:
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

    async def _call(self, method: str, **kwargs: Any) -> object:
        """Call a supervisor method by keyword; sent again while the supervisor restarts
        (creates, events and controls carry an id that makes a second send harmless).
        Given up after RECONNECT_SECONDS: :class:`EngineOutcomeUnknown` if a send was
        lost with a supervisor (it may have taken effect before it died), else
        :class:`EngineUnavailable` (nothing reached a supervisor)."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        delay, lost = 0.05, False
        while True:
            try:
                handle = self._resolve()
                return await getattr(handle, method).remote(**kwargs)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if hasattr(exc, "cause") else None
                if isinstance(cause, PyflowError):
                    raise cause from None
                raise PyflowError(f"engine error in {method}: {cause or exc}") from None
            except (ray.exceptions.RayActorError, EngineUnavailable) as exc:
                # The supervisor is restarting (it is detached, restarts forever).
                # A send lost with the supervisor may have taken effect before it died.
                lost = lost or isinstance(exc, ray.exceptions.RayActorError)
                if time.monotonic() > deadline and lost:
                    raise EngineOutcomeUnknown(
                        f"the pyflow supervisor died while it handled {method} and did not "
                        "come back in time: the call may have taken effect; retry it"
                    ) from None
                if time.monotonic() > deadline:
                    raise EngineUnavailable(
                        "the pyflow supervisor did not come back in time"
                    ) from None
                self._handle = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def list_workflows(self) -> list[WorkflowInfo]:
        return _expect_list(await self._call("list_workflows"), WorkflowInfo, "list_workflows")

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        reply = await self._call("get_workflow", workflow=workflow)
        return _expect(reply, WorkflowInfo, "get_workflow")

    async def delete_workflow(self, workflow: str) -> None:
        await self._call("delete_workflow", workflow=workflow)

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        # Ids are fixed here and a request id sent along, so that a call retried
        # across a supervisor restart is recognised instead of failing as a duplicate.
        fixed = [
            o if o.id is not None else o.model_copy(update={"id": str(uuid.uuid4())})
            for o in options
        ]
        reply = await self._call(
            "create", workflow=workflow, options=fixed, batch=batch, request_id=uuid.uuid4().hex
        )
        return _expect_list(reply, InstanceStatusInfo, "create")

    async def create_entries(
        self, workflow: str, options: list[CreateOptions]
    ) -> BatchCreateResult:
        fixed = [
            o if o.id is not None else o.model_copy(update={"id": str(uuid.uuid4())})
            for o in options
        ]
        reply = await self._call(
            "create_entries", workflow=workflow, options=fixed, request_id=uuid.uuid4().hex
        )
        return _expect(reply, BatchCreateResult, "create_entries")

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        reply = await self._call("status", workflow=workflow, instance_id=instance_id)
        return _expect(reply, InstanceStatusInfo, "status")

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        reply = await self._call("describe", workflow=workflow, instance_id=instance_id)
        return _expect(reply, InstanceDetail, "describe")

    async def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
        page: int = 1,
        per_page: int = 50,
        reverse: bool = False,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> InstancePage:
        reply = await self._call(
            "list_instances",
            workflow=workflow,
            status=status,
            page=page,
            per_page=per_page,
            reverse=reverse,
            created_after=created_after,
            created_before=created_before,
        )
        return _expect(reply, InstancePage, "list_instances")

    async def control(
        self,
        workflow: str,
        instance_id: str,
        action: ControlAction,
        restart_from: RestartFrom | None = None,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> InstanceStatusInfo:
        # One request id per call, the same for every send of it: a send that took
        # effect before the supervisor died is recognised by the restarted one, which
        # answers the current status instead of applying it again (no second restart).
        # The caller's key makes it: the caller's own resends are the same call too.
        target = None if restart_from is None else restart_from.model_dump()
        request_id = (
            uuid.uuid4().hex
            if idempotency_key is None
            else control_request_id(idempotency_key, action, target, rollback)
        )
        reply = await self._call(
            "control",
            workflow=workflow,
            instance_id=instance_id,
            action=action,
            restart_from=target,
            rollback=rollback,
            request_id=request_id,
        )
        return _expect(reply, InstanceStatusInfo, "control")

    async def delete_instances(self, workflow: str, ids: list[str]) -> BatchDeleteResult:
        reply = await self._call("delete_instances", workflow=workflow, ids=list(ids))
        return _expect(reply, BatchDeleteResult, "delete_instances")

    async def update_workflow(self, workflow: str, settings: WorkflowSettings) -> WorkflowInfo:
        reply = await self._call("update_workflow", workflow=workflow, settings=settings)
        return _expect(reply, WorkflowInfo, "update_workflow")

    async def send_event(
        self, workflow: str, instance_id: str, event_type: str, payload: Any
    ) -> None:
        # The event's id is fixed here, so that a call retried across a supervisor
        # restart (the first try committed, its reply was lost) is not a second event.
        await self._call(
            "send_event",
            workflow=workflow,
            instance_id=instance_id,
            event_type=event_type,
            payload=payload,
            event_id=uuid.uuid4().hex,
        )

    async def list_versions(self, workflow: str) -> list[VersionInfo]:
        reply = await self._call("list_versions", workflow=workflow)
        return _expect_list(reply, VersionInfo, "list_versions")

    async def get_version(self, workflow: str, version_id: str) -> VersionInfo:
        reply = await self._call("get_version", workflow=workflow, version_id=version_id)
        return _expect(reply, VersionInfo, "get_version")

    async def instance_logs(
        self, workflow: str, instance_id: str, *, after: int = 0, limit: int = 1000
    ) -> InstanceLogs:
        reply = await self._call(
            "instance_logs", workflow=workflow, instance_id=instance_id, after=after, limit=limit
        )
        return _expect(reply, InstanceLogs, "instance_logs")

    # -- cron schedules of the Worker (the supervisor's; see service/worker_host.py) --

    async def claim_cron_fire(self, worker: str, cron: str, fire_at: float) -> bool | None:
        """True once per fire of ``cron`` at ``fire_at`` across restarts and gateways;
        None when this engine keeps no schedules (the caller fires without a claim)."""
        claimed = await self._call("claim_cron_fire", worker=worker, cron=cron, fire_at=fire_at)
        return _expect(claimed, bool, "claim_cron_fire")

    async def last_cron_fire(self, worker: str, cron: str) -> float | None:
        """The latest fire claimed for ``cron`` (epoch seconds), None if none or no schedules."""
        last = await self._call("last_cron_fire", worker=worker, cron=cron)
        return None if last is None else _expect(last, float, "last_cron_fire")

    async def dead_letters(self, subscription: str | None, limit: int) -> list[DeadLetter]:
        """Subscription messages that kept failing, newest first."""
        reply = await self._call("dead_letters", subscription=subscription, limit=limit)
        return _expect_list(reply, DeadLetter, "dead_letters")

    async def stats(self) -> dict[str, Any]:
        return _expect(await self._call("stats"), dict, "stats")

    async def analytics_query(self, query: AnalyticsQuery) -> AnalyticsResult:
        """One GraphQL dataset query, answered by the supervisor's analytics store."""
        reply = await self._call("analytics_query", query=query)
        return _expect(reply, AnalyticsResult, "analytics_query")

    async def queue_pull(
        self, queue: str, batch_size: int, visibility_timeout_ms: float
    ) -> PullResult:
        """Lease messages of a subscription pull queue (the supervisor owns the outbox)."""
        reply = await self._call(
            "queue_pull",
            queue=queue,
            batch_size=batch_size,
            visibility_timeout_ms=visibility_timeout_ms,
        )
        return _expect(reply, PullResult, "queue_pull")

    async def queue_ack(
        self, queue: str, acks: list[str], retries: list[tuple[str, float]]
    ) -> AckResult:
        reply = await self._call("queue_ack", queue=queue, acks=acks, retries=retries)
        return _expect(reply, AckResult, "queue_ack")

    async def close(self) -> None:
        self._handle = None
