"""The shapes of one instance in detail: ``GET .../instances/{id}`` (status,
params, output and the step history) and ``GET .../instances/{id}/step`` (one
step's full output), as Cloudflare's ``InstanceGetResponse`` and
``InstanceStepResponse``.

Step outputs in the history are JSON text (Cloudflare's ``output: str``),
complete; the ``.../step`` endpoint returns the decoded value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from pyflow_actors import serialization
from pyflow_actors.errors import ValidationError
from pyflow_actors.models import (
    InstanceDetail,
    InstanceStatus,
    InstanceStatusInfo,
    Placement,
    StepInfo,
)
from pyflow_actors.retention import Retention

from .schemas import ErrorOut, IsoTime, OptionalIsoTime, version_id, workflow_id

_DEFAULT_STEP_CONFIG = {
    "retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
    "timeout": "10 minutes",
}


def _json_text(value: Any) -> str | None:
    return None if value is None else serialization.dumps(value)


class AttemptOut(BaseModel):
    start: IsoTime
    end: OptionalIsoTime = None
    success: bool | None = None
    error: ErrorOut | None = None


class StepRunOut(BaseModel):
    """A ``step.do`` in the history, with every attempt and its config; or (type
    ``rollback``) a run of a step's rollback handler, named ``<step name>-<count>``."""

    type: Literal["step", "rollback"] = "step"
    name: str
    start: IsoTime
    end: OptionalIsoTime = None
    success: bool | None = None
    output: str | None = Field(default=None, description="the step's output as JSON text")
    error: ErrorOut | None = Field(default=None, description="the step's final error")
    attempts: list[AttemptOut]
    config: dict[str, Any] = Field(description="retries {limit, delay, backoff} and timeout")
    next_attempt: OptionalIsoTime = Field(
        default=None, description="an extension: when a retrying step tries again"
    )

    @classmethod
    def of(cls, step: StepInfo) -> StepRunOut:
        return cls(
            type="rollback" if step.type == "rollback" else "step",
            name=step.name,
            start=step.start,
            end=step.end,
            success=step.success,
            output=_json_text(step.output) if step.success else None,
            error=ErrorOut.of(step.error),
            attempts=[
                AttemptOut(start=a.start, end=a.end, success=a.success, error=ErrorOut.of(a.error))
                for a in step.attempts
            ],
            config=step.config or _DEFAULT_STEP_CONFIG,
            next_attempt=step.next_attempt_at,
        )


class SleepOut(BaseModel):
    """A ``step.sleep`` or ``step.sleep_until`` in the history."""

    type: Literal["sleep"] = "sleep"
    name: str
    start: IsoTime
    end: OptionalIsoTime = None
    finished: bool
    error: ErrorOut | None = None


class WaitForEventOut(BaseModel):
    """A ``step.wait_for_event`` in the history."""

    type: Literal["waitForEvent"] = "waitForEvent"
    name: str
    start: IsoTime
    end: OptionalIsoTime = None
    finished: bool
    error: ErrorOut | None = None
    event_type: str | None = None
    output: str | None = Field(default=None, description="the event's payload as JSON text")


class TriggerOut(BaseModel):
    source: str


class TerminationOut(BaseModel):
    """The last entry of a terminated instance's history: who terminated it."""

    type: Literal["termination"] = "termination"
    trigger: TriggerOut


StepEntry = Annotated[
    StepRunOut | SleepOut | WaitForEventOut | TerminationOut, Field(discriminator="type")
]


def render_step(step: StepInfo) -> StepRunOut | SleepOut | WaitForEventOut:
    """One entry of ``steps``: a ``step``, ``rollback``, ``sleep`` or ``waitForEvent`` entry."""
    if step.type in ("step", "rollback"):
        return StepRunOut.of(step)
    error = ErrorOut.of(step.error)
    if step.type == "sleep":
        return SleepOut(
            name=step.name, start=step.start, end=step.end, finished=step.finished, error=error
        )
    return WaitForEventOut(
        name=step.name,
        start=step.start,
        end=step.end,
        finished=step.finished,
        error=error,
        event_type=step.event_type,
        output=_json_text(step.output) if step.finished and not step.error else None,
    )


class RetentionOut(BaseModel):
    """*Extension*: the instance's resolved retention, in milliseconds."""

    success_retention: int | None = None
    error_retention: int | None = None


def _expires(info: InstanceStatusInfo, retention: Retention | None) -> float | None:
    if retention is None or info.ended_at is None or not info.is_final:
        return None
    seconds = retention.seconds_for(errored=info.status == InstanceStatus.ERRORED)
    return None if seconds is None else info.ended_at + seconds


class RollbackOut(BaseModel):
    """How the instance's rollback ended (Cloudflare's ``Rollback``)."""

    outcome: Literal["complete", "failed"]
    error: ErrorOut | None = None


class InstanceOut(BaseModel):
    """Cloudflare's ``InstanceGetResponse``, plus ``id``, ``workflow_id``, ``wake_on``
    and ``waiting_for``."""

    id: str
    status: InstanceStatus
    params: Any = None
    trigger: TriggerOut
    version_id: str = Field(serialization_alias="versionId")
    workflow_id: str
    queued: IsoTime
    start: OptionalIsoTime = None
    end: OptionalIsoTime = None
    success: bool | None = Field(
        default=None, description="true when complete, false when errored, else null"
    )
    error: ErrorOut | None = None
    output: Any = None
    step_count: int
    steps: list[StepEntry] = Field(description="empty with ?simple=true")
    wake_on: OptionalIsoTime = Field(default=None, description="when a waiting instance wakes")
    waiting_for: list[str] = Field(description="the event types it waits for")
    placement: Placement = Field(
        default=Placement.DEDICATED, description="a pyflow extension: dedicated | shared"
    )
    schedule: dict[str, Any] | None = Field(
        default=None, description="a cron fire's {cron, scheduledTime (ms)}"
    )
    retention: RetentionOut | None = Field(
        default=None, description="how long it is kept once finished (milliseconds)"
    )
    expires_on: OptionalIsoTime = Field(
        default=None, description="when a finished instance is purged"
    )
    rollback: RollbackOut | None = Field(
        default=None, description="how its rollback ended (null: none ran)"
    )

    @classmethod
    def of(
        cls, workflow: str, detail: InstanceDetail, *, simple: bool = False, order: str = "asc"
    ) -> InstanceOut:
        info = detail.status
        steps: list[StepRunOut | SleepOut | WaitForEventOut | TerminationOut]
        steps = [render_step(s) for s in detail.steps]
        if detail.terminated_by:
            steps.append(TerminationOut(trigger=TriggerOut(source=detail.terminated_by)))
        if order == "desc":
            steps.reverse()
        success = {InstanceStatus.COMPLETE: True, InstanceStatus.ERRORED: False}.get(info.status)
        return cls(
            id=info.id,
            status=info.status,
            params=detail.params,
            trigger=TriggerOut(source="cron" if info.schedule else "api"),
            schedule=info.schedule,
            version_id=info.version_id or version_id(workflow),
            workflow_id=workflow_id(workflow),
            queued=info.created_at,
            start=info.started_at,
            end=info.ended_at,
            success=success,
            error=ErrorOut.of(info.error),
            output=info.output,
            step_count=len(detail.steps),
            steps=[] if simple else steps,
            wake_on=info.wake_at,
            waiting_for=list(info.waiting_for),
            placement=detail.placement,
            retention=RetentionOut(**detail.retention.to_wire()) if detail.retention else None,
            expires_on=_expires(info, detail.retention),
            rollback=RollbackOut(
                outcome=detail.rollback.outcome, error=ErrorOut.of(detail.rollback.error)
            )
            if detail.rollback
            else None,
        )


StepStatus = Literal["complete", "errored", "running", "waiting"]


class StepDetailOut(BaseModel):
    """Cloudflare's ``InstanceStepResponse`` for a ``step.do``.

    ``status`` is ``complete``, ``errored`` or ``running`` (not finished; with
    an ``error`` it is retrying).
    """

    status: StepStatus
    error: ErrorOut | None = None
    output: Any = Field(default=None, description="the step's output (decoded) when complete")


class EventWaitDetailOut(StepDetailOut):
    """Cloudflare's ``InstanceStepResponse`` for a ``waitForEvent``: ``waiting``
    until the event comes, then ``complete`` with its payload (or ``errored``)."""

    event_type: str | None = None


# The result of ``GET .../step``: a ``waitForEvent`` carries its event type.
StepDetail: TypeAlias = EventWaitDetailOut | StepDetailOut


def step_detail(
    instance_id: str,
    steps: list[StepInfo],
    name: str,
    step_type: str,
    attempt: int | None,
) -> StepDetail | None:
    """One step's status and full output or error, or ``None`` if there is no such step.

    ``attempt`` (1-based) picks one attempt of a ``step.do``.
    """
    step = next((s for s in steps if s.name == name and s.type == step_type), None)
    if step is None:
        return None
    if step_type == "waitForEvent":
        return _event_wait_detail(step)
    if attempt is None:
        return _step_detail(step)
    if not 1 <= attempt <= len(step.attempts):
        raise ValidationError(
            f"attempt {attempt} is invalid: step {name!r} of instance {instance_id!r} "
            f"has {len(step.attempts)} attempt(s), numbered from 1"
        )
    chosen = step.attempts[attempt - 1]
    if chosen.end is None:
        return StepDetailOut(status="running")
    if chosen.success:
        return StepDetailOut(status="complete", output=step.output if step.success else None)
    return StepDetailOut(status="errored", error=ErrorOut.of(chosen.error))


def _event_wait_detail(step: StepInfo) -> EventWaitDetailOut:
    if not step.finished:
        return EventWaitDetailOut(status="waiting", event_type=step.event_type)
    if step.error:
        return EventWaitDetailOut(
            status="errored", error=ErrorOut.of(step.error), event_type=step.event_type
        )
    return EventWaitDetailOut(status="complete", output=step.output, event_type=step.event_type)


def _step_detail(step: StepInfo) -> StepDetailOut:
    if step.finished and step.success:
        return StepDetailOut(status="complete", output=step.output)
    if step.finished:
        return StepDetailOut(status="errored", error=ErrorOut.of(step.error))
    failed = [a for a in step.attempts if a.error is not None]
    # Not finished: running, or retrying after the last failed attempt.
    return StepDetailOut(status="running", error=ErrorOut.of(failed[-1].error) if failed else None)
