"""Rollbacks (sagas) in the replay engine, without Ray: which handlers run, in which
order, with what, under their own retries; a failed handler; a terminate with
rollback; and a crash at every journal write of a run that rolls back."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from pyflow_actors import NonRetryableError, WorkflowEntrypoint
from pyflow_actors.engine import Execution, MemoryJournal, Outcome, OutcomeKind
from pyflow_actors.engine.rollback import TERMINATED_ERROR, roll_back_terminated
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import InvalidRollback
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.models import InstanceStatus, rollback_of
from pyflow_actors.storage.journal import step_infos

pytestmark = pytest.mark.timeout(60)

NO_WAIT = {"retries": {"limit": 0}}


def execute(workflow: Any, journal: Any = None, **options: Any) -> Outcome:
    journal = journal if journal is not None else MemoryJournal()
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    async def go() -> Outcome:
        execution = Execution(workflow, event, journal, **options)
        return await asyncio.wait_for(execution.run(), timeout=20)

    return asyncio.run(go())


def rollback_records(journal: MemoryJournal) -> list[tuple[str, str, str]]:
    return [(k, r.name, r.state) for k, r in journal.steps().items() if r.kind == "rollback"]


class Booking(WorkflowEntrypoint):
    """Three bookings with handlers (one without), then a failure."""

    def __init__(self, calls: list[Any], fail_with: BaseException | None = None) -> None:
        self.calls, self.fail_with = calls, fail_with

    async def run(self, event, step):
        def undo(name: str):
            async def handler(ctx, output, error):
                self.calls.append((name, output, type(error).__name__, str(error), ctx))

            return handler

        await step.do("flight", lambda: {"seat": "12A"}, rollback=undo("flight"))
        await step.do("log", lambda: "no handler")
        await step.do("hotel", lambda: {"room": 7}, rollback=undo("hotel"))
        await step.do("car", lambda: "car-1", rollback=undo("car"), config=NO_WAIT)
        raise self.fail_with or ValueError("payment declined")


def test_a_failed_instance_runs_the_handlers_of_its_steps_last_started_first():
    calls: list[Any] = []
    journal = MemoryJournal()

    outcome = execute(Booking(calls), journal)

    assert outcome.kind == OutcomeKind.ERRORED
    assert outcome.error == ("ValueError", "payment declined")
    assert [c[0] for c in calls] == ["car", "hotel", "flight"]
    car, hotel, flight = calls
    assert flight[1] == {"seat": "12A"} and hotel[1] == {"room": 7} and car[1] == "car-1"
    assert {(c[2], c[3]) for c in calls} == {("ValueError", "payment declined")}
    assert car[4]["step"] == {"name": "car", "count": 1} and car[4]["attempt"] == 1
    assert car[4]["config"]["retries"]["limit"] == 0
    assert rollback_records(journal) == [
        ("rollback:car-1", "car-1", "complete"),
        ("rollback:hotel-1", "hotel-1", "complete"),
        ("rollback:flight-1", "flight-1", "complete"),
    ]


def test_order_is_by_step_start_not_by_step_end():
    calls: list[str] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            async def slow():
                await asyncio.sleep(0.2)
                return "slow"

            first = step.do("slow", slow, rollback=lambda: calls.append("slow"))
            second = step.do("fast", lambda: "fast", rollback=lambda: calls.append("fast"))
            await asyncio.gather(first(), second())
            raise RuntimeError("then it fails")

    assert execute(W()).kind == OutcomeKind.ERRORED
    assert calls == ["fast", "slow"]  # fast started second, though it ended first


def test_a_step_that_failed_with_a_handler_rolls_back_with_no_output():
    calls: list[Any] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("reserve", lambda: 1, rollback=lambda output: calls.append(("r", output)))

            def charge():
                raise NonRetryableError("card refused")

            await step.do("charge", charge, rollback=lambda output: calls.append(("c", output)))

    outcome = execute(W())

    assert outcome.error == ("NonRetryableError", "card refused")
    assert calls == [("c", None), ("r", 1)]


def test_errors_caught_in_run_and_complete_instances_roll_nothing_back():
    calls: list[str] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("a", lambda: 1, rollback=lambda: calls.append("a"))

            def boom():
                raise NonRetryableError("caught")

            try:
                await step.do("b", boom, rollback=lambda: calls.append("b"))
            except Exception:  # noqa: BLE001 - the workflow goes on
                pass
            return "done"

    journal = MemoryJournal()
    assert execute(W(), journal).kind == OutcomeKind.COMPLETE
    assert calls == [] and rollback_records(journal) == []


def test_a_handler_is_retried_with_its_own_rollback_config():
    attempts: list[int] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            def refund(ctx):
                attempts.append(len(attempts) + 1)
                if len(attempts) < 3:
                    raise ConnectionError("payments API down")

            await step.do(
                "charge",
                lambda: 10,
                rollback=refund,
                rollback_config={"retries": {"limit": 2, "delay": 10}, "timeout": "5 seconds"},
            )
            raise ValueError("later failure")

    journal = MemoryJournal()
    assert execute(W(), journal).kind == OutcomeKind.ERRORED
    record = journal.steps()["rollback:charge-1"]
    assert attempts == [1, 2, 3]
    assert [a.error_name for a in record.attempts] == ["ConnectionError", "ConnectionError", None]
    assert record.state == "complete"
    assert json.loads(record.config or "{}")["retries"]["limit"] == 2
    assert json.loads(record.config or "{}")["timeout"] == "5 seconds"


def test_a_handler_that_gives_up_halts_the_chain_and_the_rollback_fails():
    calls: list[str] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            def refuse():
                calls.append("b")
                raise NonRetryableError("cannot undo b")

            await step.do("a", lambda: 1, rollback=lambda: calls.append("a"))
            await step.do("b", lambda: 2, rollback=refuse)
            raise ValueError("fail")

    journal = MemoryJournal()
    assert execute(W(), journal).error == ("ValueError", "fail")
    assert calls == ["b"]  # "a" never ran: the chain halted
    assert rollback_records(journal) == [("rollback:b-1", "b-1", "failed")]
    steps = step_infos(journal)
    result = rollback_of(InstanceStatus.ERRORED, steps)
    assert result is not None and result.outcome == "failed"
    assert result.error is not None and result.error.message == "cannot undo b"


def test_handler_runs_do_not_count_toward_the_step_limit():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("a", lambda: 1, rollback=lambda: None)
            await step.do("b", lambda: 2, rollback=lambda: None)
            raise ValueError("fail")

    journal = MemoryJournal()
    limits = dataclasses.replace(DEFAULT_LIMITS, max_steps=2)
    assert execute(W(), journal, limits=limits).error == ("ValueError", "fail")
    assert [r[2] for r in rollback_records(journal)] == ["complete", "complete"]


def test_the_decorator_form_attaches_a_handler_with_its_config():
    calls: list[Any] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge")
            async def charge():
                return {"id": "ch_1"}

            @charge.rollback(config={"retries": {"limit": 1}})
            async def refund(output, error):
                calls.append((output["id"], str(error)))

            await charge()
            raise ValueError("out of stock")

    journal = MemoryJournal()
    execute(W(), journal)
    assert calls == [("ch_1", "out of stock")]
    assert json.loads(journal.steps()["rollback:charge-1"].config or "{}")["retries"]["limit"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rollback": "refund"}, "rollback must be a function"),
        ({"rollback": lambda: None, "rollback_config": {"sensitive": "output"}}, "sensitive"),
        ({"rollback": lambda: None, "rollback_config": "30 seconds"}, "rollback_config"),
        ({"rollback_config": {"timeout": "1 minute"}}, "needs a rollback handler"),
        ({"rollback": lambda order: None}, "asks for 'order'"),
    ],
)
def test_a_bad_rollback_shape_fails_the_instance_with_a_clear_error(options, message):
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("charge", lambda: 1, **options)

    outcome = execute(W())
    assert outcome.kind == OutcomeKind.ERRORED
    assert outcome.error is not None and outcome.error[0] == InvalidRollback.__name__
    assert message in outcome.error[1]


def test_terminate_with_rollback_replays_run_then_rolls_back_finished_steps_only():
    calls: list[Any] = []
    ran: list[str] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("a", lambda: ran.append("a") or 1, rollback=lambda: calls.append("a"))
            await step.do(
                "b", lambda: ran.append("b") or 2, rollback=lambda error: calls.append(str(error))
            )
            await step.wait_for_event("approval", "approved", timeout="1 hour")
            await step.do("c", lambda: ran.append("c"), rollback=lambda: calls.append("c"))

    journal = MemoryJournal()
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    async def go() -> tuple[Outcome, Outcome]:
        first = await Execution(W(), event, journal, hibernate_after=0.1).run()
        return first, await roll_back_terminated(Execution(W(), event, journal))

    first, outcome = asyncio.run(asyncio.wait_for(go(), 20))

    assert first.kind == OutcomeKind.HIBERNATE
    assert outcome.kind == OutcomeKind.TERMINATED
    assert ran == ["a", "b"]  # replay ran no step again, and never reached "c"
    assert calls == [TERMINATED_ERROR[1], "a"]
    assert [r[1] for r in rollback_records(journal)] == ["b-1", "a-1"]
    assert "approval" in journal.steps() and "c" not in journal.steps()


def test_terminate_with_rollback_hands_handlers_a_terminated_error():
    seen: list[tuple[str, str]] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("a", lambda: 1, rollback=lambda error: seen.append(_described(error)))
            await step.sleep("a while", "1 hour")

    journal = MemoryJournal()
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    async def go() -> Outcome:
        await Execution(W(), event, journal, hibernate_after=0.1).run()
        return await roll_back_terminated(Execution(W(), event, journal))

    assert asyncio.run(asyncio.wait_for(go(), 20)).kind == OutcomeKind.TERMINATED
    assert seen == [TERMINATED_ERROR]
    assert journal.steps()["a while"].state == "running"  # the sleep was not finished


class Crash(BaseException):
    """Stands for a kill -9: nothing after it runs in this process."""


class CrashingJournal:
    """A memory journal whose ``crash_at``-th write never happens (the process dies)."""

    WRITES = ("begin_step", "begin_attempt", "end_attempt", "finish_step", "mark_interrupted")

    def __init__(self, journal: MemoryJournal, crash_at: int) -> None:
        self._journal, self.crash_at, self.writes = journal, crash_at, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._journal, name)
        if name not in self.WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            if self.writes == self.crash_at:
                raise Crash(f"killed before write {self.writes} ({name})")
            return attribute(*args, **kwargs)

        return write


def _journal_copy(journal: MemoryJournal) -> MemoryJournal:
    """What survives a kill: the journal's records (a fresh copy, no shared state)."""
    fresh = MemoryJournal()
    for key, record in journal.steps().items():
        attempts = [dataclasses.replace(a) for a in record.attempts]
        fresh.steps()[key] = dataclasses.replace(record, attempts=attempts)
    return fresh


def test_a_crash_at_any_write_resumes_the_rollback_and_never_repeats_a_finished_handler():
    total = None
    crash_at = 1
    while total is None or crash_at <= total:
        effects: list[str] = []
        journal = MemoryJournal()
        crashing = CrashingJournal(journal, crash_at)
        with pytest.raises(Crash):
            execute(Booking(effects), crashing)
        survived = _journal_copy(journal)
        finished_before = {
            r.name.removesuffix("-1")
            for r in survived.steps().values()
            if r.kind == "rollback" and r.state == "complete"
        }
        before = list(effects)

        outcome = execute(Booking(effects), survived)

        assert outcome.error == ("ValueError", "payment declined"), crash_at
        after = effects[len(before) :]
        assert {name for name, *_ in after}.isdisjoint(finished_before), crash_at
        assert {name for name, *_ in effects} == {"car", "hotel", "flight"}, crash_at
        firsts = list(dict.fromkeys(name for name, *_ in effects))
        assert firsts == ["car", "hotel", "flight"], crash_at
        assert [r[2] for r in rollback_records(survived)] == ["complete"] * 3, crash_at
        if total is None:  # how many writes a run without a crash makes
            counting = CrashingJournal(MemoryJournal(), crash_at=-1)
            execute(Booking([]), counting)
            total = counting.writes
        crash_at += 1
    assert total >= 12  # four steps and three handlers, each begun and ended


def _described(error: BaseException) -> tuple[str, str]:
    return type(error).__name__, str(error)


def test_the_replay_check_of_a_rolled_back_journal_fits_and_runs_no_handler():
    from pyflow_actors.upgrade.check import check_journal

    calls: list[Any] = []
    journal = MemoryJournal()
    execute(Booking(calls), journal)
    assert len(calls) == 3
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    result = asyncio.run(check_journal(Booking(calls), event, journal))

    assert result.compatible, result.divergence
    assert len(calls) == 3  # the check ran no handler


def test_a_rollback_makes_cloudflares_rollback_metrics_events():
    from pyflow_actors.analytics import InstanceFacts, derive_events

    journal = MemoryJournal()
    execute(Booking([]), journal)
    facts = InstanceFacts("wf", "i-1", InstanceStatus.ERRORED, 1, created_at=0.0)

    kinds = [e.event_type.value for e in derive_events(facts, journal.steps().values())]

    assert kinds.count("ROLLBACK_START") == 1 and kinds.count("ROLLBACK_COMPLETE") == 1
    assert kinds.count("ROLLBACK_STEP_START") == 3 and kinds.count("ROLLBACK_STEP_SUCCESS") == 3
    assert kinds.count("ROLLBACK_ATTEMPT_SUCCESS") == 3
    assert kinds.count("STEP_START") == 4  # the forward steps stay steps
    assert "ROLLBACK_FAILED" not in kinds


def test_a_handler_that_gives_up_makes_rollback_failed_events():
    from pyflow_actors.analytics import InstanceFacts, derive_events

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            def refuse():
                raise NonRetryableError("cannot undo")

            await step.do("a", lambda: 1, rollback=refuse)
            raise ValueError("fail")

    journal = MemoryJournal()
    execute(W(), journal)
    facts = InstanceFacts("wf", "i-1", InstanceStatus.ERRORED, 1, created_at=0.0)

    kinds = [e.event_type.value for e in derive_events(facts, journal.steps().values())]

    assert kinds.count("ROLLBACK_FAILED") == 1 and "ROLLBACK_COMPLETE" not in kinds
    assert kinds.count("ROLLBACK_STEP_FAILURE") == 1
    assert kinds.count("ROLLBACK_ATTEMPT_FAILURE") == 1


def test_the_instance_event_history_tells_the_rollback_before_the_end():
    from pyflow_actors.models import ErrorInfo, InstanceDetail, InstanceStatusInfo
    from pyflow_actors.subscriptions.instance_events import EVENT_TYPES, history_events

    journal = MemoryJournal()
    execute(Booking([]), journal)
    steps = step_infos(journal)
    ended = max(s.end or 0 for s in steps) + 1
    status = InstanceStatusInfo(
        id="i-1",
        workflow="wf",
        status=InstanceStatus.ERRORED,
        error=ErrorInfo(name="ValueError", message="payment declined"),
        created_at=0.0,
        started_at=0.5,
        ended_at=ended,
    )
    detail = InstanceDetail(
        status=status, steps=steps, rollback=rollback_of(InstanceStatus.ERRORED, steps)
    )

    types = [e.type for e in history_events(detail)]

    assert set(types) <= EVENT_TYPES
    rollback = [t for t in types if t.startswith("rollback")]
    assert rollback[0] == "rollback_started" and rollback[-1] == "rollback_completed"
    assert rollback.count("rollback_step_started") == 3
    assert rollback.count("rollback_attempt_completed") == 3
    assert types[-1] == "workflow_errored"
    assert types.index("rollback_completed") < types.index("workflow_errored")
