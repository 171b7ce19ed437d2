"""Models that cross a process or network boundary.

These are the shapes the supervisor returns to clients (and the gateway maps
to Cloudflare's REST shapes). Times are epoch seconds (floats) here; the
gateway renders them as ISO 8601.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class InstanceStatus(str, Enum):
    """Cloudflare's instance statuses."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ERRORED = "errored"
    TERMINATED = "terminated"
    COMPLETE = "complete"
    WAITING = "waiting"
    WAITING_FOR_PAUSE = "waitingForPause"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    def __str__(self) -> str:  # "running", not "InstanceStatus.RUNNING"
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


class Placement(str, Enum):
    """Where an instance runs: its own Ray actor, or a shared host with others."""

    DEDICATED = "dedicated"  # one Ray named actor (process) per active instance
    SHARED = "shared"  # many instances on the event loop of a pooled host actor

    def __str__(self) -> str:
        return self.value


FINAL_STATUSES = frozenset(
    {InstanceStatus.ERRORED, InstanceStatus.TERMINATED, InstanceStatus.COMPLETE}
)


class ErrorInfo(BaseModel):
    name: str
    message: str


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, use_enum_values=False)


class CreateOptions(_Model):
    """One instance to create: an optional id (generated when absent) and params."""

    id: str | None = None
    params: Any = None


class InstanceStatusInfo(_Model):
    """What ``instance.status()`` returns (Cloudflare's ``InstanceStatus``)."""

    id: str
    workflow: str
    status: InstanceStatus
    error: ErrorInfo | None = None
    output: Any = None
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    wake_at: float | None = None
    waiting_for: list[str] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    def __getitem__(self, key: str) -> Any:
        # Cloudflare users write status["status"]; let them.
        value = getattr(self, key)
        return value.value if isinstance(value, Enum) else value


class AttemptInfo(_Model):
    start: float
    end: float | None = None
    success: bool | None = None
    error: ErrorInfo | None = None


class StepInfo(_Model):
    """One entry of an instance's step history, in the order the steps began.

    ``type`` is ``step`` (``step.do``), ``sleep`` (``sleep``/``sleep_until``)
    or ``waitForEvent``. ``name`` is the step's cache key: its name, then
    ``name-2``, ``name-3``... for later occurrences.
    """

    type: Literal["step", "sleep", "waitForEvent"]
    name: str
    start: float
    end: float | None = None
    finished: bool = False
    success: bool | None = None
    output: Any = None
    error: ErrorInfo | None = None
    attempts: list[AttemptInfo] = Field(default_factory=list)
    config: dict[str, Any] | None = None
    event_type: str | None = None


class InstanceDetail(_Model):
    """Status plus params and the step history (describe)."""

    status: InstanceStatusInfo
    params: Any = None
    steps: list[StepInfo] = Field(default_factory=list)
    terminated_by: str | None = None
    placement: Placement = Placement.DEDICATED


class InstancePage(_Model):
    instances: list[InstanceStatusInfo]
    total: int
    page: int
    per_page: int


class WorkflowInfo(_Model):
    name: str
    binding: str
    class_name: str
    created_at: float
    modified_at: float
    instances: dict[str, int] = Field(default_factory=dict)
