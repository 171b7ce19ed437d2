"""The one small interface between clients and the engine.

Two transports implement it with the same behaviour: the Ray transport calls
the supervisor actor directly (inside the cluster), the HTTP transport goes
through the gateway. Every method raises a
:class:`~pyflow_actors.errors.PyflowError` subclass on failure.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

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
from ..versions import VersionInfo

ControlAction = Literal["pause", "resume", "terminate", "restart"]


class Transport(Protocol):
    async def list_workflows(self) -> list[WorkflowInfo]: ...

    async def get_workflow(self, workflow: str) -> WorkflowInfo: ...

    async def delete_workflow(self, workflow: str) -> None: ...

    async def update_workflow(self, workflow: str, settings: WorkflowSettings) -> WorkflowInfo:
        """Replace the workflow's settings (running cap, retention, step limit, schedules)."""
        ...

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        """Create instances. ``batch=False``: exactly one, a duplicate id is an
        error. ``batch=True``: existing ids are skipped and left out of the result."""
        ...

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo: ...

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail: ...

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
        """Instances newest first (``reverse=True``: oldest first)."""
        ...

    async def control(
        self,
        workflow: str,
        instance_id: str,
        action: ControlAction,
        restart_from: RestartFrom | None = None,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> InstanceStatusInfo:
        """Apply ``action``; ``restart_from``: the step a restart starts again from;
        ``rollback``: a terminate runs the rollback handlers first;
        ``idempotency_key``: the caller's key, the same for each send of one call
        (see :mod:`pyflow_actors.idempotency`)."""
        ...

    async def create_entries(
        self, workflow: str, options: list[CreateOptions]
    ) -> BatchCreateResult:
        """A batch create with per-entry results: each entry created, or its own error."""
        ...

    async def send_event(
        self, workflow: str, instance_id: str, event_type: str, payload: Any
    ) -> None: ...

    async def delete_instances(self, workflow: str, ids: list[str]) -> BatchDeleteResult:
        """Delete instances (running ones are stopped first); the outcome per id."""
        ...

    async def list_versions(self, workflow: str) -> list[VersionInfo]:
        """The workflow's versions, newest first, without their graphs."""
        ...

    async def get_version(self, workflow: str, version_id: str) -> VersionInfo:
        """One version with its graph; raises ``VersionNotFound``."""

    async def instance_logs(
        self, workflow: str, instance_id: str, *, after: int = 0, limit: int = 1000
    ) -> InstanceLogs:
        """What the instance's code printed or logged: the last ``limit`` lines
        numbered above ``after`` (see :mod:`pyflow_actors.instance_logs`)."""
        ...

    async def close(self) -> None: ...
