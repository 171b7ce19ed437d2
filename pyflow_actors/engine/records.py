"""What the replay engine reads from and writes to an instance journal.

The journal interface (:class:`Journal`) is small on purpose: the DuckDB
journal (``storage/journal.py``) and the in-memory journal used by unit tests
(:class:`MemoryJournal`) both implement it. Every method that records progress
must be durable when it returns: the engine hands a result to workflow code
only after the journal has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

from ..errors import StorageUnavailable
from ..statuses import InstanceStatus

# "patch": a step.patched(name) marker (journaled, never shown as a step);
# "rollback": one run of a step's rollback handler (see .rollback).
StepKind = Literal["step", "sleep", "waitForEvent", "patch", "rollback"]
StepState = Literal["running", "complete", "failed"]


class OutcomeKind(str, Enum):
    """How a run of the replay engine ended for now (see ``execution.Outcome``).

    ``complete``, ``errored`` and ``terminated`` are final; ``hibernate``: the
    run waits longer than the hibernation threshold and its process may go;
    ``paused``: it stopped at a step boundary on request; ``cancelled``: the
    caller stopped it (terminate, restart); ``storage``: the journal refused a
    write (storage full or read-only): the instance is fine and runs again later
    (the runtime reports this one; the engine raises ``StorageUnavailable``).
    """

    COMPLETE = "complete"
    ERRORED = "errored"
    TERMINATED = "terminated"
    HIBERNATE = "hibernate"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    STORAGE = "storage"

    def __str__(self) -> str:  # "complete", not "OutcomeKind.COMPLETE"
        return self.value

    @property
    def is_final(self) -> bool:
        return self in FINAL_OUTCOMES

    @property
    def final_status(self) -> InstanceStatus | None:
        """The instance status a final outcome ends in (``None`` if the run goes on).

        >>> OutcomeKind.ERRORED.final_status
        'errored'
        """
        return _FINAL_STATUS_OF.get(self)


_FINAL_STATUS_OF = {
    OutcomeKind.COMPLETE: InstanceStatus.COMPLETE,
    OutcomeKind.ERRORED: InstanceStatus.ERRORED,
    OutcomeKind.TERMINATED: InstanceStatus.TERMINATED,
}
FINAL_OUTCOMES = frozenset(_FINAL_STATUS_OF)


@dataclass
class Outcome:
    """How a run ended for now.

    ``complete``/``errored`` are final; ``hibernate`` means "wake me at
    ``wake_at`` or when an event of a type in ``waiting_for`` arrives";
    ``paused`` means the run stopped at a step boundary on request;
    ``cancelled`` means it was stopped by the caller (terminate, restart).
    """

    kind: OutcomeKind
    output: str | None = None  # JSON text
    error: tuple[str, str] | None = None
    wake_at: float | None = None
    waiting_for: list[str] = field(default_factory=list)


@dataclass
class AttemptRecord:
    n: int
    started_at: float
    ended_at: float | None = None
    error_name: str | None = None
    error_message: str | None = None
    # An attempt cut short by the death of the instance's process: it is
    # retried at once and does not count against the retry limit.
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return self.ended_at is not None and self.error_name is not None and not self.interrupted


@dataclass
class StepRecord:
    key: str
    name: str
    kind: StepKind
    seq: int
    started_at: float
    state: StepState = "running"
    ended_at: float | None = None
    output: str | None = None  # JSON text
    error_name: str | None = None
    error_message: str | None = None
    config: str | None = None  # JSON text of the normalized step config
    wake_at: float | None = None  # sleeps: when; waits: the timeout deadline
    event_type: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)


@dataclass
class EventRecord:
    event_id: str
    type: str
    payload: str  # JSON text
    received_at: float
    seq: int = 0
    consumed_by: str | None = None


@dataclass
class RunResult:
    """The final result of a run, as journaled: ``status`` is one of ``FINAL_STATUSES``."""

    status: InstanceStatus
    output: str | None = None
    error_name: str | None = None
    error_message: str | None = None
    ended_at: float = 0.0


class Journal(Protocol):
    """An instance's durable log (only the instance's own actor writes it)."""

    def steps(self) -> dict[str, StepRecord]: ...

    def pending_events(self) -> list[EventRecord]: ...

    def begin_step(self, record: StepRecord) -> None: ...

    def begin_attempt(self, key: str, attempt: AttemptRecord) -> None: ...

    def mark_interrupted(self, key: str, n: int, at: float) -> None: ...

    def end_attempt(
        self,
        key: str,
        n: int,
        ended_at: float,
        error: tuple[str, str] | None,
        *,
        finish: StepState | None = None,
        output: str | None = None,
    ) -> None:
        """End attempt ``n``; with ``finish`` also finish the step (one transaction)."""
        ...

    def finish_step(
        self,
        key: str,
        state: StepState,
        ended_at: float,
        *,
        output: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None: ...

    def consume_event(self, key: str, event_id: str, ended_at: float, output: str) -> None:
        """Mark the event consumed by wait step ``key`` and complete it (one transaction)."""
        ...

    def add_events(self, events: list[EventRecord]) -> list[EventRecord]:
        """Append events not seen before (by ``event_id``); return the new ones."""
        ...


class GuardedJournal:
    """A journal whose refused writes are reported: the execution's view of its journal.

    Every call goes to ``journal``; a :class:`~pyflow_actors.errors.StorageUnavailable`
    it raises is handed to ``on_refused`` (which stops the run), then raised on.
    """

    def __init__(self, journal: Journal, on_refused: Callable[[StorageUnavailable], None]) -> None:
        self._journal, self._on_refused = journal, on_refused

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._journal, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except StorageUnavailable as exc:
                self._on_refused(exc)
                raise

        return guarded


class MemoryJournal:
    """A journal in memory: for unit tests and for trying workflows without storage."""

    def __init__(self) -> None:
        self._steps: dict[str, StepRecord] = {}
        self._events: dict[str, EventRecord] = {}
        self._seq = 0
        self.result: RunResult | None = None

    def steps(self) -> dict[str, StepRecord]:
        return self._steps

    def pending_events(self) -> list[EventRecord]:
        return sorted(
            (e for e in self._events.values() if e.consumed_by is None), key=lambda e: e.seq
        )

    def begin_step(self, record: StepRecord) -> None:
        self._steps[record.key] = record

    def begin_attempt(self, key: str, attempt: AttemptRecord) -> None:
        self._steps[key].attempts.append(attempt)

    def mark_interrupted(self, key: str, n: int, at: float) -> None:
        attempt = self._steps[key].attempts[n - 1]
        attempt.ended_at, attempt.interrupted = at, True
        attempt.error_name, attempt.error_message = "Interrupted", "the instance's process died"

    def end_attempt(
        self,
        key: str,
        n: int,
        ended_at: float,
        error: tuple[str, str] | None,
        *,
        finish: StepState | None = None,
        output: str | None = None,
    ) -> None:
        attempt = self._steps[key].attempts[n - 1]
        attempt.ended_at = ended_at
        if error:
            attempt.error_name, attempt.error_message = error
        if finish:
            self.finish_step(key, finish, ended_at, output=output, error=error)

    def finish_step(
        self,
        key: str,
        state: StepState,
        ended_at: float,
        *,
        output: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        record = self._steps[key]
        record.state, record.ended_at, record.output = state, ended_at, output
        if error:
            record.error_name, record.error_message = error

    def consume_event(self, key: str, event_id: str, ended_at: float, output: str) -> None:
        self._events[event_id].consumed_by = key
        self.finish_step(key, "complete", ended_at, output=output)

    def add_events(self, events: list[EventRecord]) -> list[EventRecord]:
        new = []
        for event in events:
            if event.event_id in self._events:
                continue
            self._seq += 1
            event.seq = self._seq
            self._events[event.event_id] = event
            new.append(event)
        return new

    def set_result(self, result: RunResult) -> None:
        self.result = result
