"""An instance's event history, in the shape of Cloudflare's ``instance.subscribe()``.

:func:`history_events` derives, from what ``describe`` returns (status and
step history), the ordered events ``workflow_queued``, ``workflow_started``,
``step_started``, ``attempt_started``/``completed``/``errored``,
``step_completed``/``errored``, ``sleep_started``/``completed``,
``wait_started``/``completed``/``timed_out``, a rollback's ``rollback_started``,
``rollback_step_started``/``completed``/``errored``,
``rollback_attempt_started``/``completed``/``errored`` and
``rollback_completed``/``errored`` (before the terminal event), and the terminal
``workflow_completed``/``errored``/``terminated``, numbered ``eventId`` 1, 2...
in time order. The history only grows as the instance runs, so a reader can
resume after the last ``eventId`` it saw (the ``cursor``).

:func:`status_event` names the live status changes (``workflow_paused``,
``workflow_waiting``...): they are not in the history (only the current
status is kept), so a stream sends them as they are seen, without an id.

Pure: no storage, no network.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..models import InstanceDetail, InstanceStatus, StepInfo

TERMINAL = frozenset({"workflow_completed", "workflow_errored", "workflow_terminated"})
HISTORY_TYPES = frozenset(
    {
        "workflow_queued", "workflow_started", "step_started", "step_completed", "step_errored",
        "attempt_started", "attempt_completed", "attempt_errored", "sleep_started",
        "sleep_completed", "wait_started", "wait_completed", "wait_timed_out",
        "rollback_started", "rollback_step_started", "rollback_step_completed",
        "rollback_step_errored", "rollback_attempt_started", "rollback_attempt_completed",
        "rollback_attempt_errored", "rollback_completed", "rollback_errored",
    }
) | TERMINAL  # fmt: skip
_LIVE = {
    InstanceStatus.RUNNING: "workflow_running",
    InstanceStatus.PAUSED: "workflow_paused",
    InstanceStatus.WAITING: "workflow_waiting",
    InstanceStatus.WAITING_FOR_PAUSE: "workflow_waiting_for_pause",
    InstanceStatus.QUEUED: "workflow_queued",
}
EVENT_TYPES = HISTORY_TYPES | frozenset(_LIVE.values())


class InstanceEvent(BaseModel):
    """``{instanceId, eventId, timestamp (ms), type}`` plus the type's own fields."""

    model_config = ConfigDict(frozen=True, extra="allow")

    instanceId: str
    eventId: int | None
    timestamp: float
    type: str

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL


def _error(step: StepInfo) -> dict[str, Any]:
    return step.error.model_dump() if step.error else {"name": "Error", "message": ""}


Found = list[tuple[float, str, dict[str, Any]]]


def _rollback_events(detail: InstanceDetail) -> Found:
    """A rollback's start and end (its handler runs are steps, named ``rollback_*``)."""
    handlers = [s for s in detail.steps if s.type == "rollback"]
    if not handlers:
        return []
    out: Found = [(min(s.start for s in handlers), "rollback_started", {})]
    ends = [s.end for s in handlers if s.end is not None] or [out[0][0]]
    if detail.rollback is not None and detail.rollback.outcome == "failed":
        error = detail.rollback.error.model_dump() if detail.rollback.error else None
        out.append((max(ends), "rollback_errored", {"error": error}))
    elif detail.rollback is not None:
        out.append((max(ends), "rollback_completed", {}))
    return out


def _step_events(step: StepInfo) -> Found:
    if step.type == "rollback":  # a handler run: a step's events, named rollback_*
        return [(at, f"rollback_{kind}", fields) for at, kind, fields in _run_events(step)]
    return _run_events(step)


def _run_events(step: StepInfo) -> Found:
    name: dict[str, Any] = {"stepName": step.name}
    done = step.finished and step.end is not None
    end = step.end if step.end is not None else step.start
    out: Found = []
    if step.type == "sleep":
        out.append((step.start, "sleep_started", {**name, "durationMs": _ms(step.start, step.end)}))
        if done:
            out.append((end, "sleep_completed", name))
        return out
    if step.type == "waitForEvent":
        out.append((step.start, "wait_started", {**name, "eventType": step.event_type}))
        if done:
            timed_out = step.error is not None and step.error.name == "WaitForEventTimeout"
            kind = (
                "wait_completed"
                if step.success
                else "wait_timed_out"
                if timed_out
                else "step_errored"
            )
            out.append((end, kind, name))
        return out
    out.append((step.start, "step_started", {**name, "config": step.config}))
    for n, attempt in enumerate(step.attempts, start=1):
        out.append((attempt.start, "attempt_started", {**name, "attempt": n}))
        if attempt.end is None:
            continue
        if attempt.success:
            out.append((attempt.end, "attempt_completed", {**name, "attempt": n}))
        else:
            error = attempt.error.model_dump() if attempt.error else None
            out.append((attempt.end, "attempt_errored", {**name, "attempt": n, "error": error}))
    if done:
        if step.success:
            out.append((end, "step_completed", {**name, "output": step.output}))
        else:
            out.append((end, "step_errored", {**name, "error": _error(step)}))
    return out


def _ms(start: float, end: float | None) -> int | None:
    return None if end is None else max(0, round((end - start) * 1000))


def history_events(detail: InstanceDetail) -> list[InstanceEvent]:
    """Every event of the instance's history so far, in order, ``eventId`` 1, 2..."""
    status = detail.status
    found: Found = [(status.created_at, "workflow_queued", {})]
    if status.started_at is not None:
        found.append((status.started_at, "workflow_started", {}))
    rollback = _rollback_events(detail)  # its start and end frame its handlers' events
    found.extend(rollback[:1])
    for step in detail.steps:
        found.extend(_step_events(step))
    found.extend(rollback[1:])
    if status.ended_at is not None:
        if status.status == InstanceStatus.COMPLETE:
            found.append((status.ended_at, "workflow_completed", {"output": status.output}))
        elif status.status == InstanceStatus.ERRORED:
            error = status.error.model_dump() if status.error else None
            found.append((status.ended_at, "workflow_errored", {"error": error}))
        elif status.status == InstanceStatus.TERMINATED:
            found.append((status.ended_at, "workflow_terminated", {}))
    # Time order; events of the same instant keep the order they were derived in.
    ordered = sorted(enumerate(found), key=lambda pair: (pair[1][0], pair[0]))
    return [
        InstanceEvent(
            instanceId=status.id, eventId=n, timestamp=round(at * 1000, 3), type=kind, **fields
        )
        for n, (_, (at, kind, fields)) in enumerate(ordered, start=1)
    ]


def status_event(instance_id: str, status: InstanceStatus, at: float) -> InstanceEvent | None:
    """The live event for entering ``status`` (no ``eventId``: not part of the history)."""
    kind = _LIVE.get(status)
    if kind is None:
        return None
    return InstanceEvent(
        instanceId=instance_id, eventId=None, timestamp=round(at * 1000, 3), type=kind
    )
