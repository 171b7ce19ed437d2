"""An instance's step timeline as the dashboard draws it.

Each step of :class:`~pyflow_actors.models.InstanceDetail` becomes a
:class:`Row`: its kind, its state, its attempts with their durations and
errors, a sleep's wake time, a wait's event type and timeout, and a bar placed
on the instance's time span. Steps that overlap in time go to separate lanes,
so concurrent steps show side by side.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from enum import Enum

from pyflow_actors.models import InstanceDetail, StepInfo


class StepState(str, Enum):
    """What a step (or an attempt) shows: how it ended, or that it is still going."""

    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"

    def __str__(self) -> str:  # "done" in templates and CSS classes
        return self.value


@dataclass(frozen=True)
class AttemptRow:
    number: int
    duration: str
    outcome: StepState
    error: str = ""


@dataclass
class Row:
    kind: str
    name: str
    state: StepState
    started: str
    duration: str
    lane: int = 0
    left: float = 0.0  # percent of the instance's span
    width: float = 0.0
    note: str = ""
    error: str = ""
    attempts: list[AttemptRow] = field(default_factory=list)


def clock(epoch: float | None) -> str:
    """An epoch time as ``2026-11-27 09:41:05Z`` (UTC), or an empty string."""
    if epoch is None:
        return ""
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def span(seconds: float | None) -> str:
    """A duration for people: ``850 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def step_state(step: StepInfo) -> StepState:
    if not step.finished:
        return StepState.RUNNING
    failed = step.error is not None or step.success is False
    return StepState.FAILED if failed else StepState.DONE


def _note(step: StepInfo, wake_at: float | None) -> str:
    if step.type == "sleep":
        wake = step.end if step.end is not None else wake_at
        return f"wakes {clock(wake)}" if wake is not None else ""
    if step.type == "waitForEvent":
        waited = f"event type {step.event_type or '?'}"
        if not step.finished and step.end is not None:  # a waiting step's end is its timeout
            return f"{waited}, times out {clock(step.end)}"
        return waited
    if step.next_attempt_at is not None:
        return f"next attempt {clock(step.next_attempt_at)}"
    return ""


def _attempts(step: StepInfo, now: float) -> list[AttemptRow]:
    rows = []
    for number, attempt in enumerate(step.attempts, start=1):
        if attempt.end is None:
            outcome = StepState.RUNNING
        else:
            outcome = StepState.DONE if attempt.success else StepState.FAILED
        error = f"{attempt.error.name}: {attempt.error.message}" if attempt.error else ""
        took = (attempt.end if attempt.end is not None else now) - attempt.start
        rows.append(AttemptRow(number, span(took), outcome, error))
    return rows


def _ended(step: StepInfo, now: float) -> float:
    """Where a step's bar ends: its end once finished (a sleep's ``end`` is its wake time
    while it sleeps), else now."""
    return step.end if step.finished and step.end is not None else now


def _lanes(rows: list[Row], steps: list[StepInfo], now: float) -> None:
    """Give each row the first lane free at its start (overlapping steps side by side)."""
    lane_ends: list[float] = []
    for row, step in zip(rows, steps, strict=True):
        end = _ended(step, now)
        for lane, free_at in enumerate(lane_ends):
            if free_at <= step.start:
                row.lane, lane_ends[lane] = lane, end
                break
        else:
            row.lane = len(lane_ends)
            lane_ends.append(end)


def timeline(detail: InstanceDetail, now: float | None = None) -> list[Row]:
    """The rows of ``detail``'s steps in the order they began."""
    now = time.time() if now is None else now
    steps = sorted(detail.steps, key=lambda s: s.start)
    began = detail.status.started_at or (steps[0].start if steps else now)
    finished = detail.status.ended_at or now
    total = max(finished - began, 1e-6)
    rows = []
    for step in steps:
        end = _ended(step, min(now, finished))
        row = Row(
            kind=step.type,
            name=step.name,
            state=step_state(step),
            started=clock(step.start),
            duration=span(max(end - step.start, 0.0)),
            note=_note(step, detail.status.wake_at),
            error=f"{step.error.name}: {step.error.message}" if step.error else "",
            attempts=_attempts(step, now),
        )
        row.left = max(0.0, min(100.0, (step.start - began) / total * 100))
        row.width = max(0.5, min(100.0 - row.left, (end - step.start) / total * 100))
        rows.append(row)
    _lanes(rows, steps, now)
    return rows
