"""An in-memory Transport, for gateway and CLI tests that need no Ray.

It keeps instances in dicts and follows the engine's rules just far enough to
test REST mapping, errors and auth. ``fail[method] = error`` makes the next
call of ``method`` raise ``error`` (rate limits, queue limits, crashes).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pyflow_actors.analytics.query import AnalyticsQuery, AnalyticsResult
from pyflow_actors.errors import (
    AnalyticsUnavailable,
    InstanceAlreadyExists,
    InstanceIdRepeated,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidTransition,
    PyflowError,
    VersionNotFound,
    WorkflowNotFound,
)
from pyflow_actors.limits import validate_event_type, validate_instance_id, validate_payload
from pyflow_actors.models import (
    BatchCreateError,
    BatchCreateResult,
    BatchDeleteResult,
    CreateOptions,
    DeletedInstance,
    DeleteError,
    InstanceDetail,
    InstanceLogs,
    InstancePage,
    InstanceStatus,
    InstanceStatusInfo,
    LogLine,
    Placement,
    RestartFrom,
    StepInfo,
    WorkflowInfo,
    WorkflowSettings,
    rollback_of,
)
from pyflow_actors.versions import VersionInfo


class FakeTransport:
    def __init__(self, workflows: tuple[str, ...] = ("hello",)) -> None:
        now = time.time()
        self.restarted_from: RestartFrom | None = None
        self.rolled_back = False  # whether the last control call asked for a rollback
        self.created_options: list[CreateOptions] = []  # every create asked for, in order
        self.workflows = {
            name: WorkflowInfo(
                name=name,
                binding=name.upper(),
                class_name=f"examples.{name}:{name.title()}",
                created_at=now,
                modified_at=now,
            )
            for name in workflows
        }
        self.instances: dict[tuple[str, str], InstanceStatusInfo] = {}
        self.params: dict[tuple[str, str], Any] = {}
        self.placements: dict[str, Placement] = {}  # workflow -> placement (else dedicated)
        self.steps: dict[tuple[str, str], list[StepInfo]] = {}
        self.events: list[tuple[str, str, str, Any]] = []
        self.logs: dict[tuple[str, str], list[LogLine]] = {}
        self.fail: dict[str, Exception] = {}
        self.versions: dict[str, list[VersionInfo]] = {}  # per workflow, oldest first
        self.cron_fires: dict[tuple[str, str], float] = {}
        self.closed = False
        # A real AnalyticsStore (pyflow_actors.analytics.store) answers analytics
        # queries when a test sets one; stats_snapshot is what stats() returns.
        self.analytics: Any = None
        self.outbox: Any = None  # a real storage.outbox.Outbox serves the pull queues
        self.stats_snapshot: dict[str, Any] = {}

    def _check(self, method: str) -> None:
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def _workflow(self, name: str) -> str:
        if name not in self.workflows:
            raise WorkflowNotFound(f"workflow {name!r} does not exist")
        return name

    def _get(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        key = (self._workflow(workflow), instance_id)
        if key not in self.instances:
            raise InstanceNotFound(
                f"instance {instance_id!r} does not exist in workflow {workflow!r}"
            )
        return self.instances[key]

    def set_status(self, workflow: str, instance_id: str, status: str, **fields: Any) -> None:
        info = self._get(workflow, instance_id)
        self.instances[(workflow, instance_id)] = info.model_copy(
            update={"status": InstanceStatus(status), **fields}
        )

    async def list_workflows(self) -> list[WorkflowInfo]:
        self._check("list_workflows")
        return [self.workflows[n] for n in sorted(self.workflows)]

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        self._check("get_workflow")
        return self.workflows[self._workflow(workflow)]

    async def update_workflow(self, workflow: str, settings: WorkflowSettings) -> WorkflowInfo:
        self._check("update_workflow")
        info = self.workflows[self._workflow(workflow)]
        self.workflows[workflow] = info.model_copy(update={"settings": settings})
        return self.workflows[workflow]

    async def delete_workflow(self, workflow: str) -> None:
        self._check("delete_workflow")
        del self.workflows[self._workflow(workflow)]

    async def create_entries(
        self, workflow: str, options: list[CreateOptions]
    ) -> BatchCreateResult:
        """Per entry: created, or refused with its own error (as the engine does)."""
        created, errors, seen = [], [], set()
        for index, option in enumerate(options):
            try:
                if option.id in seen:
                    raise InstanceIdRepeated(f"instance id {option.id!r} is repeated")
                if (self._workflow(workflow), option.id) in self.instances:
                    raise InstanceAlreadyExists(f"instance {option.id!r} already exists")
                [info] = await self.create(workflow, [option], batch=False)
            except PyflowError as exc:
                errors.append(BatchCreateError.of(index, option.id, exc))
                continue
            seen.add(info.id)
            created.append(info)
        return BatchCreateResult(created=created, errors=errors)

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        self._check("create")
        self._workflow(workflow)
        out = []
        for option in options:
            instance_id = option.id or str(uuid.uuid4())
            validate_instance_id(instance_id)
            validate_payload(option.params)
            self.created_options.append(option)
            if (workflow, instance_id) in self.instances:
                if batch:
                    continue
                raise InstanceAlreadyExists(f"instance {instance_id!r} already exists")
            versions = self.versions.get(workflow)
            info = InstanceStatusInfo(
                id=instance_id,
                workflow=workflow,
                status="queued",
                created_at=time.time(),
                version_id=versions[-1].id if versions else None,  # the current version
            )
            self.instances[(workflow, instance_id)] = info
            self.params[(workflow, instance_id)] = option.params
            out.append(info)
        return out

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        self._check("status")
        return self._get(workflow, instance_id)

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        self._check("describe")
        info = self._get(workflow, instance_id)
        key = (workflow, instance_id)
        return InstanceDetail(
            status=info,
            params=self.params.get(key),
            steps=self.steps.get(key, []),
            terminated_by="api" if info.status == InstanceStatus.TERMINATED else None,
            placement=self.placements.get(workflow, Placement.DEDICATED),
            rollback=rollback_of(info.status, self.steps.get(key, [])),  # as the engine says
        )

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
        self._check("list_instances")
        self._workflow(workflow)
        rows = [
            i
            for (w, _), i in self.instances.items()
            if w == workflow
            and (status is None or i.status.value == status)
            and (created_after is None or i.created_at >= created_after)
            and (created_before is None or i.created_at <= created_before)
        ]
        rows.sort(key=lambda i: i.created_at, reverse=not reverse)
        start = (page - 1) * per_page
        return InstancePage(
            instances=rows[start : start + per_page], total=len(rows), page=page, per_page=per_page
        )

    async def control(
        self,
        workflow: str,
        instance_id: str,
        action: str,
        restart_from: RestartFrom | None = None,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> InstanceStatusInfo:
        self._check("control")
        self.idempotency_key = idempotency_key  # the key of the last control call
        self.restarted_from = restart_from  # what the last control call asked to keep
        self.rolled_back = rollback  # whether the last control call asked for a rollback
        info = self._get(workflow, instance_id)
        if action == "terminate":
            if info.is_final:
                raise InvalidTransition(f"instance {instance_id!r} is already {info.status}")
            self.set_status(workflow, instance_id, "terminated", ended_at=time.time())
        elif action == "pause" and not info.is_final:
            self.set_status(workflow, instance_id, "paused")
        elif action == "resume" and info.status == InstanceStatus.PAUSED:
            self.set_status(workflow, instance_id, "queued")
        elif action == "restart":
            self.set_status(workflow, instance_id, "queued", ended_at=None, output=None)
        return self._get(workflow, instance_id)

    async def delete_instances(self, workflow: str, ids: list[str]) -> BatchDeleteResult:
        self._check("delete_instances")
        for instance_id in ids:
            validate_instance_id(instance_id)
        present = {i for i in ids if (self._workflow(workflow), i) in self.instances}
        for instance_id in present:
            del self.instances[(workflow, instance_id)]
        deleted = [i for i in ids if i in present]
        errors = [
            DeleteError(id=i, code=10406, message=f"instance.not_found: {i!r}")
            for i in ids
            if i not in deleted
        ]
        return BatchDeleteResult(deleted=[DeletedInstance(id=i) for i in deleted], errors=errors)

    async def send_event(
        self, workflow: str, instance_id: str, event_type: str, payload: Any
    ) -> None:
        self._check("send_event")
        info = self._get(workflow, instance_id)
        validate_event_type(event_type)
        validate_payload(payload, "event payload")
        if info.is_final:
            raise InstanceNotAcceptingEvents(f"instance {instance_id!r} is {info.status}")
        self.events.append((workflow, instance_id, event_type, payload))

    async def list_versions(self, workflow: str) -> list[VersionInfo]:
        self._check("list_versions")
        versions = self.versions.get(self._workflow(workflow), [])
        return [v.model_copy(update={"graph": None}) for v in reversed(versions)]

    async def get_version(self, workflow: str, version_id: str) -> VersionInfo:
        self._check("get_version")
        for version in self.versions.get(self._workflow(workflow), []):
            if version.id == version_id:
                return version
        raise VersionNotFound(f"workflow {workflow!r} has no version {version_id!r}")

    async def instance_logs(
        self, workflow: str, instance_id: str, *, after: int = 0, limit: int = 1000
    ) -> InstanceLogs:
        self._check("instance_logs")
        self._get(workflow, instance_id)
        lines = [line for line in self.logs.get((workflow, instance_id), []) if line.n > after]
        kept = lines[-limit:]
        return InstanceLogs(
            lines=kept,
            next_after=lines[-1].n if lines else after,
            truncated=len(kept) < len(lines),
        )

    async def claim_cron_fire(self, worker: str, cron: str, fire_at: float) -> bool | None:
        """The supervisor's schedules, in memory: True once per fire, for the latest only."""
        last = self.cron_fires.get((worker, cron))
        if last is not None and fire_at <= last:
            return False
        self.cron_fires[(worker, cron)] = fire_at
        return True

    async def last_cron_fire(self, worker: str, cron: str) -> float | None:
        return self.cron_fires.get((worker, cron))

    async def analytics_query(self, query: AnalyticsQuery) -> AnalyticsResult:
        self._check("analytics_query")
        if self.analytics is None:
            raise AnalyticsUnavailable("no analytics store in this fake engine")
        return self.analytics.query(query)

    async def queue_pull(self, queue: str, batch_size: int, visibility_timeout_ms: float) -> Any:
        from pyflow_actors.subscriptions.delivery import pull_queue

        self._check("queue_pull")
        return pull_queue(self.outbox, queue, batch_size, visibility_timeout_ms)

    async def queue_ack(self, queue: str, acks: list[str], retries: list[Any]) -> Any:
        from pyflow_actors.subscriptions.delivery import ack_queue

        self._check("queue_ack")
        return ack_queue(self.outbox, queue, acks, retries)

    async def dead_letters(self, subscription: str | None, limit: int) -> Any:
        from pyflow_actors.subscriptions.delivery import dead_letters

        self._check("dead_letters")
        return dead_letters(self.outbox, subscription, limit)

    async def stats(self) -> dict[str, Any]:
        self._check("stats")
        return dict(self.stats_snapshot)

    async def close(self) -> None:
        self.closed = True
