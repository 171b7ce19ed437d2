"""Property tests of the replay engine: random workflows, crashed at every journal write.

Hypothesis builds workflows from steps (some failing with retries, some raising
``NonRetryableError``), sleeps, ``sleep_until``, ``wait_for_event`` with and
without a timeout (events arriving before or after the wait) and concurrent
steps (``asyncio.gather``). Each runs once without a crash for the reference
result; then again, once per journal write, with the process "killed" at that
write (the write and everything after it lost), and run on from the journal as
a restarted instance would be. Every run must end with the reference result and
step outputs; no committed step may run again (only an attempt in flight at
the crash repeats, and it shows as ``Interrupted``); attempt numbers stay
continuous and the failed attempts are the reference's.

No Ray, no files, no real time: an in-memory journal that hands out copies (as
a file does), and a :class:`~pyflow_actors.engine.clock.VirtualClock` moved by
the driver when the run waits. ``PYFLOW_REPLAY_EXAMPLES`` sizes it (default
200, ``make test``); ``make fuzz-replay`` (in ``make chaos``) runs 2,000 with a
``--hypothesis-seed`` (without one the examples are the same every run).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st

from pyflow_actors import NonRetryableError, WorkflowEntrypoint
from pyflow_actors.engine import EventRecord, Execution, MemoryJournal, Outcome
from pyflow_actors.engine.clock import VirtualClock
from pyflow_actors.engine.records import OutcomeKind
from pyflow_actors.entrypoint import WorkflowEvent

START = 1_700_000_000.0
HIBERNATE_AFTER = 5.0  # waits longer than this end the run (hibernate) and replay on wake
EXAMPLES = int(os.environ.get("PYFLOW_REPLAY_EXAMPLES", "200"))
EVENT_TYPES = ("approved", "shipped")
REPORT = os.environ.get("PYFLOW_REPLAY_REPORT")  # a JSON file for the figures below
FIGURES: Counter[str] = Counter()

# ---------------------------------------------------------------------------
# the plan of a random workflow


@dataclass(frozen=True)
class Step:
    name: str
    failures: int  # its first `failures` attempts fail
    limit: int  # retries after the first attempt
    non_retryable: bool = False  # its first attempt raises NonRetryableError


@dataclass(frozen=True)
class Sleep:
    name: str
    seconds: int


@dataclass(frozen=True)
class SleepUntil:
    name: str
    offset: int  # seconds after START (may be in the past when reached)


@dataclass(frozen=True)
class Wait:
    name: str
    event_type: str
    timeout: int | None  # seconds; None: the default (24 hours)


@dataclass(frozen=True)
class Gather:
    steps: tuple[Step, ...]


Operation = Step | Sleep | SleepUntil | Wait | Gather


@dataclass(frozen=True)
class Arrival:
    """An event sent to the instance at START + offset (offsets end in .5: no ties)."""

    offset: float
    event_type: str
    event_id: str


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    arrivals: tuple[Arrival, ...]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    names = iter(f"s{i}" for i in range(1000))  # unique names: a step's key is its name

    def step() -> st.SearchStrategy[Step]:
        return st.builds(
            lambda failures, limit, refuse: Step(next(names), failures, limit, refuse),
            st.integers(0, 3),
            st.integers(0, 2),
            st.integers(0, 3).map(lambda n: n == 0),
        )

    operation = st.one_of(
        step(),
        st.builds(lambda s: Sleep(next(names), s), st.integers(0, 20)),
        st.builds(lambda s: SleepUntil(next(names), s), st.integers(0, 60)),
        st.builds(
            lambda t, timeout: Wait(next(names), t, timeout),
            st.sampled_from(EVENT_TYPES),
            st.one_of(st.none(), st.integers(1, 40)),
        ),
        st.lists(step(), min_size=2, max_size=3).map(lambda s: Gather(tuple(s))),
    )
    operations = tuple(draw(st.lists(operation, min_size=1, max_size=6)))
    arrivals = draw(
        st.lists(
            st.tuples(st.integers(0, 80), st.sampled_from(EVENT_TYPES)), min_size=0, max_size=4
        )
    )
    return Plan(
        operations,
        tuple(Arrival(at + 0.5, kind, f"e{i}") for i, (at, kind) in enumerate(sorted(arrivals))),
    )


# ---------------------------------------------------------------------------
# the workflow a plan describes, and the ledger of its step executions


class PlannedWorkflow(WorkflowEntrypoint):
    """Runs a plan; a failed step or a timed-out wait is caught and the run goes on."""

    def __init__(self, plan: Plan, journal: MemoryJournal, ledger: Counter[str]) -> None:
        super().__init__()
        self.plan, self.journal, self.ledger = plan, journal, ledger

    async def run(self, event: Any, step: Any) -> Any:
        results = []
        for operation in self.plan.operations:
            try:
                results.append(await self._do(operation, step))
            except Exception as exc:  # noqa: BLE001 - the workflow goes on, as authors' do
                results.append(["caught", type(exc).__name__])
        return results

    async def _do(self, operation: Operation, step: Any) -> Any:
        if isinstance(operation, Step):
            return await self._step(operation, step)
        if isinstance(operation, Sleep):
            await step.sleep(operation.name, operation.seconds)
            return ["slept", operation.name]
        if isinstance(operation, SleepUntil):
            await step.sleep_until(operation.name, START + operation.offset)
            return ["slept until", operation.name]
        if isinstance(operation, Wait):
            timeout = f"{operation.timeout} seconds" if operation.timeout else "24 hours"
            got = await step.wait_for_event(operation.name, operation.event_type, timeout=timeout)
            return [got["type"], got["payload"]]
        outcomes = await asyncio.gather(
            *(self._step(s, step) for s in operation.steps), return_exceptions=True
        )
        return [
            ["caught", type(o).__name__] if isinstance(o, BaseException) else o for o in outcomes
        ]

    async def _step(self, plan: Step, step: Any) -> Any:
        config = {"retries": {"limit": plan.limit, "delay": "3 seconds", "backoff": "exponential"}}

        async def body() -> Any:
            self.ledger[plan.name] += 1
            # Its attempts that failed (the journal's word): a crash, which ends an
            # attempt as Interrupted, does not move a step on to its next behaviour.
            failed = sum(a.failed for a in self.journal.steps()[plan.name].attempts)
            if plan.non_retryable and failed == 0:
                raise NonRetryableError(f"{plan.name} refused")
            if failed < plan.failures:
                raise ValueError(f"{plan.name} failure {failed + 1}")
            return {"step": plan.name, "after failures": failed}

        return await step.do(plan.name, config=config)(body)


# ---------------------------------------------------------------------------
# a journal that can die, and the driver


class ProcessDied(BaseException):
    """The instance's process was killed (not an Exception: nothing in run() catches it)."""


class CrashingJournal:
    """The durable ``store`` behind copies (the engine's objects are not the journal's,
    as with a file), whose ``crash_at``-th write kills the process: that write and
    every later one are lost."""

    def __init__(self, store: MemoryJournal, crash_at: int | None = None) -> None:
        self.store, self.crash_at = store, crash_at
        self.writes, self.dead = 0, False

    def steps(self) -> dict[str, Any]:
        return copy.deepcopy(self.store.steps())

    def pending_events(self) -> list[EventRecord]:
        return copy.deepcopy(self.store.pending_events())

    def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.dead:
            raise ProcessDied
        self.writes += 1
        if self.writes == self.crash_at:
            self.dead = True
            raise ProcessDied
        result = getattr(self.store, method)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        return copy.deepcopy(result)

    def __getattr__(self, method: str) -> Any:
        if method not in _WRITES:
            raise AttributeError(method)
        return lambda *args, **kwargs: self._write(method, *args, **kwargs)


_WRITES = frozenset(
    (
        "begin_step",
        "begin_attempt",
        "mark_interrupted",
        "end_attempt",
        "finish_step",
        "consume_event",
        "add_events",
    )
)


@dataclass
class Run:
    outcome: Outcome
    store: MemoryJournal
    ledger: Counter[str]
    writes: int = 0  # journal writes of the uninterrupted run
    crashed: bool = False
    restarts: int = 0
    log: list[str] = field(default_factory=list)


QUIET_YIELDS = 40  # event-loop turns with nothing new before the driver moves time


class Driver:
    """Runs one instance of a plan to its end: each ``Execution`` until it hibernates,
    the next one from the journal; time moves when the run waits; events arrive
    at their times; the journal may kill the process once, and it starts again."""

    def __init__(self, plan: Plan, crash_at: int | None) -> None:
        self.plan, self.crash_at = plan, crash_at
        self.clock = VirtualClock(START)
        self.store, self.ledger = MemoryJournal(), Counter[str]()
        self.arrived: list[Arrival] = []
        self.event = WorkflowEvent({"n": 1}, dt.datetime.fromtimestamp(START), "i-1", "planned")

    async def run(self) -> Run:
        journal = CrashingJournal(self.store, self.crash_at)
        crashed, restarts = False, 0
        while True:
            try:
                outcome = await self._one_execution(journal)
            except ProcessDied:
                outcome = None
            if outcome is None:  # killed: a new process, the same journal, no more crashes
                crashed, restarts = True, restarts + 1
                assert restarts < 3, "the run crashed again without a crash planned"
                journal = CrashingJournal(self.store)
                continue
            if outcome.kind is not OutcomeKind.HIBERNATE:
                return Run(outcome, self.store, self.ledger, journal.writes, crashed, restarts)
            assert outcome.wake_at is not None
            self.clock.advance_to(min(outcome.wake_at, self._next_arrival()))

    async def _one_execution(self, journal: CrashingJournal) -> Outcome | None:
        self._arrive()
        # The runtime hands a starting instance every event it accepted (the
        # registry keeps them until the journal has them).
        journal.add_events([self._record(a) for a in self.arrived])
        workflow = PlannedWorkflow(self.plan, self.store, self.ledger)
        execution = Execution(
            workflow, self.event, journal, hibernate_after=HIBERNATE_AFTER, clock=self.clock
        )
        task = asyncio.ensure_future(execution.run())
        try:
            while not task.done():
                for _ in range(QUIET_YIELDS):
                    await asyncio.sleep(0)
                    if task.done() or journal.dead:
                        break
                if journal.dead:
                    return None
                if task.done():
                    break
                wake = min(self.clock.next_deadline() or math.inf, self._next_arrival())
                assert math.isfinite(wake), "the run waits for nothing"
                self.clock.advance_to(wake)
                for arrival in self._arrive():
                    execution.deliver(journal.add_events([self._record(arrival)]))
            return None if journal.dead else task.result()
        finally:
            # A killed run ends by itself (every write now raises): let it, so that
            # its tasks' ProcessDied is collected, then cancel what still waits.
            for _ in range(QUIET_YIELDS):
                if task.done():
                    break
                await asyncio.sleep(0)
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _arrive(self) -> list[Arrival]:
        """Events whose time has come (new ones returned)."""
        now = self.clock.now() - START
        new = [a for a in self.plan.arrivals if a.offset <= now and a not in self.arrived]
        self.arrived.extend(new)
        return new

    def _next_arrival(self) -> float:
        pending = [a.offset for a in self.plan.arrivals if a not in self.arrived]
        return START + min(pending) if pending else math.inf

    def _record(self, arrival: Arrival) -> EventRecord:
        payload = f'{{"id": "{arrival.event_id}"}}'
        return EventRecord(arrival.event_id, arrival.event_type, payload, START + arrival.offset)


def drive(plan: Plan, crash_at: int | None = None) -> Run:
    return asyncio.run(asyncio.wait_for(Driver(plan, crash_at).run(), timeout=30))


# ---------------------------------------------------------------------------
# the properties


def step_results(store: MemoryJournal) -> dict[str, tuple[Any, ...]]:
    return {
        key: (r.kind, r.state, r.output, r.error_name, r.error_message)
        for key, r in store.steps().items()
    }


def consumed_events(store: MemoryJournal) -> dict[str, str | None]:
    return {event_id: e.consumed_by for event_id, e in store._events.items()}


def assert_same_as_reference(reference: Run, crashed: Run, crash_at: int) -> None:
    where = f"crash at journal write {crash_at} of {reference.writes}"
    assert (crashed.outcome.kind, crashed.outcome.output, crashed.outcome.error) == (
        reference.outcome.kind,
        reference.outcome.output,
        reference.outcome.error,
    ), where
    assert step_results(crashed.store) == step_results(reference.store), where
    assert consumed_events(crashed.store) == consumed_events(reference.store), where
    for key, record in crashed.store.steps().items():
        if record.kind != "step":
            continue
        attempts = record.attempts
        assert [a.n for a in attempts] == list(range(1, len(attempts) + 1)), (where, key)
        assert all(a.ended_at is not None for a in attempts), (where, key)
        interrupted = sum(a.interrupted for a in attempts)
        assert interrupted == 0 or crashed.crashed, (where, key)
        # The failures are the reference's; a committed step never ran again: every
        # execution beyond the reference's is an attempt the crash interrupted.
        expected = reference.store.steps()[key].attempts
        assert [a.error_name for a in attempts if not a.interrupted] == [
            a.error_name for a in expected
        ], (where, key)
        assert crashed.ledger[key] == reference.ledger[key] + interrupted, (where, key)


@pytest.fixture(scope="module", autouse=True)
def report_figures() -> Iterator[None]:
    yield
    if REPORT:
        seed = hypothesis_core.global_force_seed
        figures = {**FIGURES, "seed": seed if seed is not None else "derandomized"}
        Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(REPORT).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def count(plan: Plan, reference: Run, crashed: list[Run]) -> None:
    FIGURES["workflows"] += 1
    FIGURES["crashed_runs"] += len(crashed)
    FIGURES["steps"] += sum(r.kind == "step" for r in reference.store.steps().values())
    FIGURES["failed_attempts"] += sum(
        a.failed for r in reference.store.steps().values() for a in r.attempts
    )
    FIGURES["events_consumed"] += sum(
        e.consumed_by is not None for e in reference.store._events.values()
    )
    FIGURES["interrupted_attempts"] += sum(
        a.interrupted for run in crashed for r in run.store.steps().values() for a in r.attempts
    )
    FIGURES["gathers"] += sum(isinstance(o, Gather) for o in plan.operations)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=hypothesis_core.global_force_seed is None,  # `make chaos` passes a seed
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # explain: ast recursion on 3.11
)
@given(plans())
def test_a_run_crashed_at_any_journal_write_ends_as_the_uninterrupted_run(plan):
    reference = drive(plan)
    assert reference.outcome.kind is OutcomeKind.COMPLETE, reference.outcome
    assert not reference.crashed
    crashed = []
    for crash_at in range(1, reference.writes + 1):
        crashed.append(drive(plan, crash_at))
        assert_same_as_reference(reference, crashed[-1], crash_at)
    count(plan, reference, crashed)


def test_the_driver_notices_a_step_that_runs_again():
    """The property can fail: a journal that forgets a committed step is caught."""
    plan = Plan((Step("s0", 0, 0), Sleep("s1", 30)), ())
    reference = drive(plan)
    amnesiac = drive(plan)
    del amnesiac.store._steps["s0"]
    with_loss = asyncio.run(_replay_on(plan, amnesiac.store, amnesiac.ledger))
    assert with_loss.ledger["s0"] == 2
    with pytest.raises(AssertionError):
        assert_same_as_reference(reference, with_loss, 0)


async def _replay_on(plan: Plan, store: MemoryJournal, ledger: Counter[str]) -> Run:
    driver = Driver(plan, None)
    driver.store, driver.ledger = store, ledger
    driver.clock.advance_to(START + 100)
    return await driver.run()
