"""Metrics events: the event types of Cloudflare's Metrics page, derived from
what an instance's journal and the registry already hold.

Pure functions, no storage: :func:`derive_events` turns an instance's facts
(registry row, journal meta) and its step records into :class:`MetricEvent`
rows. Every event has a key that is stable for its instance generation
(``STEP_START:<step key>``, ``ATTEMPT_FAILURE:<step key>:<n>``...), so that
deriving the same journal twice yields the same rows: the store relies on it
to count nothing twice.

Which journal fact makes which event:

- ``WORKFLOW_QUEUED`` at creation, ``WORKFLOW_START`` when the run first
  started, ``WORKFLOW_SUCCESS``/``FAILURE``/``TERMINATED`` when it ended
  (wallTime: end minus start, or minus creation if it never started);
- each ``step.do`` and ``waitForEvent``: ``STEP_START``, then ``STEP_SUCCESS``
  or ``STEP_FAILURE`` (wallTime: the step from first attempt to end);
- each attempt of a ``step.do``: ``ATTEMPT_START``, then ``ATTEMPT_SUCCESS`` or
  ``ATTEMPT_FAILURE`` (an attempt cut short by a dead process is a failure);
- each sleep: ``SLEEP_START``, then ``SLEEP_COMPLETE``;
- a rollback: ``ROLLBACK_START`` when its first handler began, then
  ``ROLLBACK_FAILED`` (a handler gave up) or ``ROLLBACK_COMPLETE`` (every handler
  succeeded, the instance final); each handler run and its attempts as a step's,
  named ``ROLLBACK_STEP_*`` and ``ROLLBACK_ATTEMPT_*``.

wallTime is in milliseconds; start events have none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..engine.records import StepRecord
from ..engine.rollback_handlers import ROLLBACK_KEY_PREFIX
from ..models import FINAL_STATUSES, InstanceStatus


class EventType(str, Enum):
    """The ``eventType`` values of Cloudflare's Metrics page."""

    WORKFLOW_QUEUED = "WORKFLOW_QUEUED"
    WORKFLOW_START = "WORKFLOW_START"
    WORKFLOW_SUCCESS = "WORKFLOW_SUCCESS"
    WORKFLOW_FAILURE = "WORKFLOW_FAILURE"
    WORKFLOW_TERMINATED = "WORKFLOW_TERMINATED"
    STEP_START = "STEP_START"
    STEP_SUCCESS = "STEP_SUCCESS"
    STEP_FAILURE = "STEP_FAILURE"
    SLEEP_START = "SLEEP_START"
    SLEEP_COMPLETE = "SLEEP_COMPLETE"
    ATTEMPT_START = "ATTEMPT_START"
    ATTEMPT_SUCCESS = "ATTEMPT_SUCCESS"
    ATTEMPT_FAILURE = "ATTEMPT_FAILURE"
    # Rollbacks: the instance's (start, then complete or failed), each handler run's
    # (as a step's) and each of its attempts'.
    ROLLBACK_START = "ROLLBACK_START"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_STEP_START = "ROLLBACK_STEP_START"
    ROLLBACK_STEP_SUCCESS = "ROLLBACK_STEP_SUCCESS"
    ROLLBACK_STEP_FAILURE = "ROLLBACK_STEP_FAILURE"
    ROLLBACK_ATTEMPT_START = "ROLLBACK_ATTEMPT_START"
    ROLLBACK_ATTEMPT_SUCCESS = "ROLLBACK_ATTEMPT_SUCCESS"
    ROLLBACK_ATTEMPT_FAILURE = "ROLLBACK_ATTEMPT_FAILURE"

    def __str__(self) -> str:
        return self.value


_FINAL_EVENT = {
    InstanceStatus.COMPLETE: EventType.WORKFLOW_SUCCESS,
    InstanceStatus.ERRORED: EventType.WORKFLOW_FAILURE,
    InstanceStatus.TERMINATED: EventType.WORKFLOW_TERMINATED,
}


@dataclass(frozen=True)
class InstanceFacts:
    """What the registry and the journal's meta say about one instance generation."""

    workflow: str
    instance_id: str
    status: InstanceStatus
    generation: int
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class MetricEvent:
    """One row of the analytics store (one event of one instance generation)."""

    key: str
    event_type: EventType
    workflow: str
    instance_id: str
    generation: int
    at: float  # epoch seconds
    step_name: str | None = None
    step_count: int | None = None
    wall_time_ms: int | None = None

    @property
    def datetime(self) -> dt.datetime:
        """The event's time, UTC, without tzinfo (as the store keeps it)."""
        return dt.datetime.fromtimestamp(self.at, dt.timezone.utc).replace(tzinfo=None)


def _millis(start: float | None, end: float | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start) * 1000))


def instance_events(facts: InstanceFacts) -> list[MetricEvent]:
    """The workflow-level events of one instance generation."""

    def event(kind: EventType, at: float, wall: int | None = None) -> MetricEvent:
        return MetricEvent(
            kind.value, kind, facts.workflow, facts.instance_id, facts.generation, at,
            wall_time_ms=wall,
        )  # fmt: skip

    out = [event(EventType.WORKFLOW_QUEUED, facts.created_at)]
    if facts.started_at is not None:
        out.append(event(EventType.WORKFLOW_START, facts.started_at))
    final = _FINAL_EVENT.get(facts.status)
    if final is not None and facts.ended_at is not None:
        begin = facts.started_at if facts.started_at is not None else facts.created_at
        out.append(event(final, facts.ended_at, _millis(begin, facts.ended_at)))
    return out


_ROLLBACK_KINDS = {  # a step's event type -> a rollback handler run's
    EventType.STEP_START: EventType.ROLLBACK_STEP_START,
    EventType.STEP_SUCCESS: EventType.ROLLBACK_STEP_SUCCESS,
    EventType.STEP_FAILURE: EventType.ROLLBACK_STEP_FAILURE,
    EventType.ATTEMPT_START: EventType.ROLLBACK_ATTEMPT_START,
    EventType.ATTEMPT_SUCCESS: EventType.ROLLBACK_ATTEMPT_SUCCESS,
    EventType.ATTEMPT_FAILURE: EventType.ROLLBACK_ATTEMPT_FAILURE,
}


def step_events(facts: InstanceFacts, steps: Iterable[StepRecord]) -> list[MetricEvent]:
    """The step, attempt, sleep and rollback events of one instance generation's journal."""
    records = list(steps)
    out = _step_events(facts, records)
    handlers = [r for r in records if r.kind == "rollback"]
    if not handlers:
        return out
    out = [
        dataclasses.replace(e, event_type=_ROLLBACK_KINDS.get(e.event_type, e.event_type))
        if e.key.split(":", 1)[1].startswith(ROLLBACK_KEY_PREFIX)
        else e
        for e in out
    ]
    start = min(r.started_at for r in handlers)
    out.append(_rollback_event(facts, EventType.ROLLBACK_START, start))
    failed = next((r for r in handlers if r.state == "failed"), None)
    if failed is not None and failed.ended_at is not None:
        out.append(_rollback_event(facts, EventType.ROLLBACK_FAILED, failed.ended_at))
    elif facts.status in FINAL_STATUSES and all(r.state == "complete" for r in handlers):
        end = max(r.ended_at or start for r in handlers)
        out.append(_rollback_event(facts, EventType.ROLLBACK_COMPLETE, end))
    return out


def _rollback_event(facts: InstanceFacts, kind: EventType, at: float) -> MetricEvent:
    return MetricEvent(kind.value, kind, facts.workflow, facts.instance_id, facts.generation, at)


def _step_events(facts: InstanceFacts, steps: Iterable[StepRecord]) -> list[MetricEvent]:
    out: list[MetricEvent] = []
    for record in steps:

        def event(
            kind: EventType, key: str, at: float, wall: int | None = None, r: StepRecord = record
        ) -> MetricEvent:
            return MetricEvent(
                key, kind, facts.workflow, facts.instance_id, facts.generation, at,
                step_name=r.name, step_count=r.seq, wall_time_ms=wall,
            )  # fmt: skip

        finished = record.state != "running" and record.ended_at is not None
        wall = _millis(record.started_at, record.ended_at) if finished else None
        if record.kind == "patch":
            continue  # a step.patched marker: not a step
        if record.kind == "sleep":
            out.append(event(EventType.SLEEP_START, f"SLEEP_START:{record.key}", record.started_at))
            if finished and record.ended_at is not None:
                key = f"SLEEP_COMPLETE:{record.key}"
                out.append(event(EventType.SLEEP_COMPLETE, key, record.ended_at, wall))
            continue
        out.append(event(EventType.STEP_START, f"STEP_START:{record.key}", record.started_at))
        for attempt in record.attempts:
            suffix = f"{record.key}:{attempt.n}"
            out.append(
                event(EventType.ATTEMPT_START, f"ATTEMPT_START:{suffix}", attempt.started_at)
            )
            if attempt.ended_at is None:
                continue
            kind = (
                EventType.ATTEMPT_SUCCESS
                if attempt.error_name is None
                else EventType.ATTEMPT_FAILURE
            )
            attempt_wall = _millis(attempt.started_at, attempt.ended_at)
            out.append(event(kind, f"{kind.value}:{suffix}", attempt.ended_at, attempt_wall))
        if finished and record.ended_at is not None:
            kind = EventType.STEP_SUCCESS if record.state == "complete" else EventType.STEP_FAILURE
            out.append(event(kind, f"{kind.value}:{record.key}", record.ended_at, wall))
    return out


def derive_events(facts: InstanceFacts, steps: Iterable[StepRecord] = ()) -> list[MetricEvent]:
    """Every event one instance generation has produced so far."""
    return instance_events(facts) + step_events(facts, steps)
