"""An in-memory Transport, for gateway and CLI tests that need no Ray.

It keeps instances in dicts and follows the engine's rules just far enough to
test REST mapping, errors and auth. ``fail[method] = error`` makes the next
call of ``method`` raise ``error`` (rate limits, queue limits, crashes).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pyflow_actors.errors import (
    InstanceAlreadyExists,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidTransition,
    WorkflowNotFound,
)
from pyflow_actors.limits import validate_event_type, validate_instance_id, validate_payload
from pyflow_actors.models import (
    CreateOptions,
    InstanceDetail,
    InstancePage,
    InstanceStatus,
    InstanceStatusInfo,
    Placement,
    StepInfo,
    WorkflowInfo,
)


class FakeTransport:
    def __init__(self, workflows: tuple[str, ...] = ("hello",)) -> None:
        now = time.time()
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
        self.fail: dict[str, Exception] = {}
        self.closed = False

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

    async def delete_workflow(self, workflow: str) -> None:
        self._check("delete_workflow")
        del self.workflows[self._workflow(workflow)]

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
            if (workflow, instance_id) in self.instances:
                if batch:
                    continue
                raise InstanceAlreadyExists(f"instance {instance_id!r} already exists")
            info = InstanceStatusInfo(
                id=instance_id, workflow=workflow, status="queued", created_at=time.time()
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

    async def control(self, workflow: str, instance_id: str, action: str) -> InstanceStatusInfo:
        self._check("control")
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

    async def close(self) -> None:
        self.closed = True
