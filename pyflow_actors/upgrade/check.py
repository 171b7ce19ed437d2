"""The replay check: does an instance's journal still fit the workflow's code as it is now?

:func:`check_journal` runs the workflow's ``run()`` on the real replay engine
(:class:`~pyflow_actors.engine.execution.Execution`) over an in-memory copy of
the journal, with a :class:`CheckingStep` that records every step, sleep and
wait the code asks for and never runs a step function. It stops at the first
thing the journal does not hold:

* the journal holds nothing the code has not asked for yet (the code went past
  the end of the journal, or reached the step in progress): **compatible**;
* the journal still holds steps the code has not asked for, and the code asks
  for a new one, or asks for a recorded key as another kind (a sleep where a
  step was): **diverged**, reported with the position, what the code asks for
  now and what the journal holds there.

A run that ends (returns or raises) while the journal holds steps it never
asked for diverged too. Pure: no Ray, no DuckDB; the journal given is never
written (``pyflow check`` opens journals read-only, the runner passes its own).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine.execution import Execution
from ..engine.records import EventRecord, MemoryJournal, StepKind, StepRecord
from ..engine.step import ReplayStep, StepCallable
from ..errors import ReplayDiverged
from ..limits import DEFAULT_LIMITS, Limits
from ..step import WorkflowStepEvent

_KIND_WORDS = {"step": "step", "sleep": "sleep", "waitForEvent": "wait_for_event"}


@dataclass(frozen=True)
class Divergence:
    """Where the code and the journal part: the code's ``position``-th request
    (1-based, in the order the code asks) is ``code_kind`` ``code_key``, where the
    journal holds ``journal_kind`` ``journal_key`` (``None``: the code ended)."""

    position: int
    code_key: str | None
    code_kind: str | None
    journal_key: str
    journal_kind: str

    def describe(self) -> str:
        held = f"{_KIND_WORDS.get(self.journal_kind, self.journal_kind)} {self.journal_key!r}"
        if self.code_key is None:
            return f"at position {self.position} the code ends, where the journal holds {held}"
        asks = f"{_KIND_WORDS.get(self.code_kind or '', self.code_kind)} {self.code_key!r}"
        return f"at position {self.position} the code asks for {asks}, the journal holds {held}"


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one journal: ``matched`` requests of the code matched it."""

    matched: int
    divergence: Divergence | None = None
    in_progress: StepRecord | None = (
        None  # the journal's step in progress, where the replay stopped
    )

    @property
    def compatible(self) -> bool:
        return self.divergence is None

    def error(self, workflow: str, instance_id: str) -> ReplayDiverged:
        """The ``replay.diverged`` error naming the step (for a diverged result)."""
        assert self.divergence is not None
        return ReplayDiverged(
            f"instance {instance_id!r} of workflow {workflow!r} cannot run on the current "
            f"code: {self.divergence.describe()} (restart it to run it on the current code, "
            "or keep its version registered: see 'Upgrading running workflows')"
        )


class _Stop(Exception):
    """Raised into the checked run where the check has its verdict."""


class CheckingStep(ReplayStep):
    """The ``step`` a checked run hands to ``run()``: replays what the journal
    holds, and stops the run at the first request it does not hold."""

    def __init__(
        self,
        execution: Execution,
        journal: dict[str, StepRecord],
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> None:
        super().__init__(execution)
        self._execution = execution
        self._journal = journal
        self._on_step = on_step
        self.asked = 0
        self.matched = 0
        self.in_progress: StepRecord | None = None
        self.divergence: Divergence | None = None
        self.stopped = False

    def _check(self, key: str, kind: StepKind) -> None:
        """Count the request; stop the run unless the journal has it finished."""
        self.asked += 1
        record = self._journal.get(key)
        if record is not None and record.kind != kind:
            self._stop(self._diverged(key, kind, record))
        if record is not None:
            self.matched += 1
        if record is None:
            left = self.unasked()
            self._stop(self._diverged(key, kind, left[0]) if left else None)
        if record is not None and record.state == "running":
            self.in_progress = record
            self._stop(None)  # the step in progress: everything before it matched
        if record is not None and self._on_step is not None:
            self._on_step(record)  # replayed: its recorded result goes back to the code

    def _diverged(self, key: str | None, kind: str | None, held: StepRecord) -> Divergence:
        return Divergence(self.asked, key, kind, held.key, held.kind)

    def _stop(self, divergence: Divergence | None) -> None:
        if not self.stopped:
            self.stopped, self.divergence = True, divergence
            self._execution.cancel()
        raise _Stop

    def unasked(self) -> list[StepRecord]:
        """The journal's steps (not patch markers, not rollback handler runs) the code has
        not asked for, oldest first."""
        left = [
            r
            for k, r in self._journal.items()
            if r.kind not in ("patch", "rollback") and k not in self._used
        ]
        return sorted(left, key=lambda r: r.seq)

    def finish(self) -> CheckResult:
        """The verdict once the run stopped or ended."""
        if not self.stopped:
            left = self.unasked()
            if left:
                self.divergence = self._diverged(None, None, left[0])
        return CheckResult(self.matched, self.divergence, self.in_progress)

    # -- the requests -----------------------------------------------------------

    async def _run_step(self, key: str, step: StepCallable) -> Any:
        self._check(key, "step")
        return await super()._run_step(key, step)  # replays: the record is finished


class _CheckedExecution(Execution):
    """An execution whose sleeps and waits ask the checking step first."""

    checking: CheckingStep

    async def sleep(self, key: str, name: str, wake: Any) -> None:
        self.checking._check(key, "sleep")
        await super().sleep(key, name, wake)

    async def wait_for_event(
        self, key: str, name: str, event_type: str, timeout: float
    ) -> WorkflowStepEvent:
        self.checking._check(key, "waitForEvent")
        return await super().wait_for_event(key, name, event_type, timeout)


class RecordedHistory(Protocol):
    """What a check reads of a journal (a journal file, or a finished one's folded copy)."""

    def steps(self) -> dict[str, StepRecord]: ...

    def pending_events(self) -> list[EventRecord]: ...


def journal_copy(journal: RecordedHistory) -> MemoryJournal:
    """An in-memory copy of a journal's steps and pending events (the check writes only here)."""
    memory = MemoryJournal()
    for record in sorted(journal.steps().values(), key=lambda r: r.seq):
        memory.begin_step(copy.deepcopy(record))
    memory.add_events([copy.deepcopy(e) for e in journal.pending_events()])
    return memory


async def check_journal(
    workflow: Any,
    event: Any,
    journal: RecordedHistory,
    *,
    limits: Limits = DEFAULT_LIMITS,
    on_step: Callable[[StepRecord], None] | None = None,
) -> CheckResult:
    """Replay ``journal`` against ``workflow`` (an instance of the workflow class) without
    running any step; say whether the code still fits it, or where it diverges.

    .. code-block:: python

        result = await check_journal(Onboarding(env), event, DuckJournal(path, read_only=True))
        if not result.compatible:
            print(result.divergence.describe())

    ``on_step`` is called with each journal record as it is replayed (``pyflow replay``).
    """
    memory = journal_copy(journal)
    recorded = dict(memory.steps())  # what the journal held before the check
    execution = _CheckedExecution(workflow, event, memory, limits=limits)
    execution.checking = CheckingStep(execution, recorded, on_step)
    execution.step = execution.checking
    execution.replay_only = True  # no rollback handler runs when the replayed run() fails
    await execution.run()
    return execution.checking.finish()
