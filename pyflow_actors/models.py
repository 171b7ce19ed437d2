"""Models that cross a process or network boundary.

These are the shapes the supervisor returns to clients (and the gateway maps
to Cloudflare's REST shapes). Times are epoch seconds (floats) here; the
gateway renders them as ISO 8601.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .retention import Retention
from .statuses import FINAL_STATUSES as FINAL_STATUSES  # re-exported: models names them all
from .statuses import InstanceStatus as InstanceStatus
from .statuses import Placement as Placement


class ErrorInfo(BaseModel):
    # Validators are built on first use, not at import: an instance actor imports
    # this module (via the package) and uses few of these models, and building
    # them all cost ~50 ms of CPU per activation (benchmarks: ``activation``).
    model_config = ConfigDict(defer_build=True)

    name: str
    message: str


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, use_enum_values=False, defer_build=True)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json_string(value: Any) -> Any:
    """A string holding a JSON document, decoded; any other value as it is.

    Cloudflare's REST API (and its official SDK, which types ``params`` as
    ``str``) sends params as a JSON-encoded string: ``'{"a": 1}'`` becomes
    ``{"a": 1}``. A string that is not JSON (``"hello"``) stays a string.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except ValueError:  # json.JSONDecodeError and NaN/Infinity
        return value


class CreateOptions(_Model):
    """One instance to create: an optional id (generated when absent) and params.

    ``params`` given as a JSON-encoded string is decoded (see
    :func:`decode_json_string`): the workflow's ``event.payload`` and the
    instance's ``params`` are the decoded value.
    """

    id: str | None = None
    params: Any = None
    retention: Retention | None = None  # Cloudflare's instance_retention
    # Set by the supervisor's schedules only: {"cron", "scheduledTime" (ms)}.
    schedule: dict[str, Any] | None = None

    @field_validator("params", mode="before")
    @classmethod
    def _decode_params(cls, value: Any) -> Any:
        return decode_json_string(value)

    @field_validator("retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Retention | None:
        return Retention.parse(value)


class RestartFrom(_Model):
    """Where a restart starts again: the ``count``-th step named ``name`` of ``type``
    (Cloudflare's ``restart({"from": {"name", "count", "type"}})``). The steps
    begun before it keep their results; it and every later step run again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    type: Literal["do", "sleep", "waitForEvent"] = "do"

    @property
    def step_key(self) -> str:
        """The step's key in the journal (``name``, then ``name-2``...)."""
        return self.name if self.count == 1 else f"{self.name}-{self.count}"

    @property
    def journal_kind(self) -> str:
        """The journal's kind for ``type`` (``step.do`` records are ``step``)."""
        return "step" if self.type == "do" else self.type


class DeletedInstance(_Model):
    id: str


class DeleteError(_Model):
    """An id a delete could not delete: Cloudflare's ``{id, code, message}``."""

    id: str
    code: int
    message: str


class BatchDeleteResult(_Model):
    """What a delete of instances did, per id given (Cloudflare's ``deleteBatch``)."""

    deleted: list[DeletedInstance] = Field(default_factory=list)
    errors: list[DeleteError] = Field(default_factory=list)


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
    # The version the instance was created with (pyflow_actors.versions); None
    # from an engine that records no versions (then the gateway shows one per name).
    version_id: str | None = None
    # A cron fire's instance: {"cron", "scheduledTime" (ms)}; None for any other.
    schedule: dict[str, Any] | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    def __getitem__(self, key: str) -> Any:
        # Cloudflare users write status["status"], status["error"]["name"]; let them.
        value = getattr(self, key)
        if isinstance(value, BaseModel):  # error: {name, message}, read as keys or attributes
            from .serialization import JsonObject

            return JsonObject(value.model_dump(mode="json"))
        return value.value if isinstance(value, Enum) else value


class BatchCreateError(_Model):
    """An entry of a batch create that was not created: its position in the batch, its
    id (if it had one) and why (Cloudflare's createBatch ``errors`` entry)."""

    index: int
    id: str | None = None
    code: int
    message: str  # "<dotted code>: <message>", as in the v4 envelope's errors

    @classmethod
    def of(cls, index: int, instance_id: str | None, error: Any) -> BatchCreateError:
        """The entry ``index`` refused with ``error`` (a ``PyflowError``)."""
        return cls(
            index=index,
            id=instance_id,
            code=error.numeric_code,
            message=f"{error.code}: {error.message}",
        )

    def shifted(self, indexes: list[int]) -> BatchCreateError:
        """The same error, its index mapped through ``indexes`` (a subset's positions)."""
        return self.model_copy(update={"index": indexes[self.index]})


class BatchCreateResult(_Model):
    """What a batch create did, entry by entry: the instances created (in the batch's
    order) and the entries refused, each with its own error."""

    created: list[InstanceStatusInfo] = Field(default_factory=list)
    errors: list[BatchCreateError] = Field(default_factory=list)


class AttemptInfo(_Model):
    start: float
    end: float | None = None
    success: bool | None = None
    error: ErrorInfo | None = None


class StepInfo(_Model):
    """One entry of an instance's step history, in the order the steps began.

    ``type`` is ``step`` (``step.do``), ``sleep`` (``sleep``/``sleep_until``),
    ``waitForEvent``, or ``rollback`` (a step's rollback handler, named
    ``<name>-<count>`` after its step). ``name`` is the step's cache key: its
    name, then ``name-2``, ``name-3``... for later occurrences.
    """

    type: Literal["step", "sleep", "waitForEvent", "rollback"]
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
    # A step waiting to retry: when its next attempt is due (epoch seconds).
    next_attempt_at: float | None = None


class RollbackInfo(_Model):
    """How an instance's rollback ended (Cloudflare's ``rollback`` of an instance)."""

    outcome: Literal["complete", "failed"]
    error: ErrorInfo | None = None


def rollback_of(status: InstanceStatus, steps: list[StepInfo]) -> RollbackInfo | None:
    """The rollback of a final instance, read from its ``rollback`` step entries:
    ``failed`` with the error of the handler that gave up, else ``complete``;
    ``None`` when no handler ran (or the instance is not final yet)."""
    handlers = [s for s in steps if s.type == "rollback"]
    if not handlers or status not in FINAL_STATUSES:
        return None
    failed = next((s for s in handlers if s.finished and s.success is False), None)
    if failed is not None:
        return RollbackInfo(outcome="failed", error=failed.error)
    if all(s.success for s in handlers):
        return RollbackInfo(outcome="complete")
    return None


class InstanceDetail(_Model):
    """Status plus params and the step history (describe)."""

    status: InstanceStatusInfo
    params: Any = None
    steps: list[StepInfo] = Field(default_factory=list)
    terminated_by: str | None = None
    placement: Placement = Placement.DEDICATED
    # How long it is kept once finished (its own, else its workflow's, else the engine's).
    retention: Retention | None = None
    rollback: RollbackInfo | None = None  # how its rollback ended, if one ran


class InstancePage(_Model):
    instances: list[InstanceStatusInfo]
    total: int
    page: int
    per_page: int


class WorkflowSettings(_Model):
    """What the API may set on a workflow (Cloudflare's ``PUT .../workflows/{name}``):
    its running cap (``concurrency.limit``), the default retention of its
    instances, its step limit (``limits.steps``) and its cron ``schedules``."""

    # 0 holds every new instance queued (the workflow takes creates, runs none).
    max_running: int | None = Field(default=None, ge=0)
    default_retention: Retention | None = None
    max_steps: int | None = Field(default=None, ge=1)
    schedules: tuple[str, ...] = ()

    @field_validator("default_retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: Any) -> Retention | None:
        return Retention.parse(value, what="default_retention")


class WorkflowInfo(_Model):
    name: str
    binding: str
    class_name: str
    created_at: float
    modified_at: float
    instances: dict[str, int] = Field(default_factory=dict)
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    version_id: str | None = None  # the current version


LogStream = Literal["stdout", "stderr", "log"]


class LogLine(_Model):
    """One line an instance's code wrote: ``print()`` (stdout/stderr) or ``logging``.

    ``n`` increases by one per line of the instance (the cursor of ``after``);
    ``step`` is the step whose attempt wrote it (``None``: ``run()`` itself).
    """

    n: int
    time: float
    step: str | None = None
    stream: LogStream
    level: str | None = None
    message: str


class InstanceLogs(_Model):
    """A page of an instance's log, oldest line first."""

    lines: list[LogLine] = Field(default_factory=list)
    next_after: int = 0
    truncated: bool = False
