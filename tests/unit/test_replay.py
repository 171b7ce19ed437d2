"""The replay engine, without Ray: journal in memory, real (short) time."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from pyflow_actors import NonRetryableError, WorkflowEntrypoint
from pyflow_actors.engine import EventRecord, Execution, MemoryJournal, Outcome
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import StepError, StepTimeout, WaitForEventTimeout


def make_event(payload=None) -> WorkflowEvent:
    return WorkflowEvent(payload, dt.datetime.now(dt.timezone.utc), "i-1", "wf")


def execute(workflow, journal=None, *, payload=None, hibernate_after=0.2, events=()) -> Outcome:
    journal = journal if journal is not None else MemoryJournal()

    async def go():
        execution = Execution(
            workflow, make_event(payload), journal, hibernate_after=hibernate_after
        )
        if events:
            execution.deliver(journal.add_events(list(events)))
        return await asyncio.wait_for(execution.run(), timeout=10)

    return asyncio.run(go())


def event(type_, payload=None, n=[0]) -> EventRecord:  # noqa: B006 - counter on purpose
    n[0] += 1
    return EventRecord(f"e{n[0]}", type_, f'{{"v": {payload!r}}}'.replace("'", '"'), time.time())


class Counter:
    def __init__(self):
        self.calls: dict[str, int] = {}

    def hit(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]


# ---------------------------------------------------------------------------
# step.do


def test_step_forms_sync_async_decorator_and_call():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("async")
            async def a():
                return 1

            @step.do("sync")
            def b():
                return 2

            c = await step.do("call form")(lambda: 3)
            d = await step.do("call async", lambda: asyncio.sleep(0, result=4))
            return [await a(), await b(), c, d, event["payload"]["x"], event.payload["x"]]

    out = execute(W(), payload={"x": 5})
    assert out.kind == "complete"
    assert out.output == "[1,2,3,4,5,5]"


def test_completed_step_is_not_run_again_on_replay():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            v = await step.do("once")(lambda: counter.hit("once"))
            await step.sleep("nap", 0.5)  # > hibernate_after: hibernates
            return v

    journal = MemoryJournal()
    first = execute(W(), journal, hibernate_after=0.1)
    assert first.kind == "hibernate" and first.wake_at is not None
    time.sleep(max(0, first.wake_at - time.time()))
    second = execute(W(), journal, hibernate_after=0.1)
    assert second.kind == "complete" and second.output == "1"
    assert counter.calls == {"once": 1}


def test_repeated_step_names_get_occurrence_keys():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for i in range(3):
                await step.do("same")(lambda i=i: i)

    journal = MemoryJournal()
    assert execute(W(), journal).kind == "complete"
    assert sorted(journal.steps()) == ["same", "same-2", "same-3"]
    assert [journal.steps()[k].output for k in ("same", "same-2", "same-3")] == ["0", "1", "2"]


def test_step_output_is_what_replay_returns():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("tuple")(lambda: (1, 2))

    assert execute(W()).output == "[1,2]"


def test_non_serializable_output_fails_the_step_without_retry():
    attempts = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("bad")
            def bad():
                attempts.hit("bad")
                return object()

            await bad()

    out = execute(W())
    assert out.kind == "errored"
    assert out.error[0] == "StepOutputError" and "not JSON-serializable" in out.error[1]
    assert attempts.calls["bad"] == 1


def test_too_large_output_fails_with_clear_error():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("big")(lambda: "x" * (1 << 20))

    out = execute(W())
    assert out.kind == "errored" and "limit is 1048576 bytes" in out.error[1]


# ---------------------------------------------------------------------------
# retries


def _failing(counter: Counter, name: str, succeed_on: int | None = None, exc=RuntimeError):
    def fn():
        n = counter.hit(name)
        if succeed_on is not None and n >= succeed_on:
            return n
        raise exc(f"attempt {n} failed")

    return fn


@pytest.mark.parametrize("limit,attempts", [(0, 1), (1, 2), (3, 4)])
def test_retry_limit_counts_retries_after_the_first_attempt(limit, attempts):
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": limit, "delay": 0, "backoff": "constant"}}
            await step.do("flaky", config=cfg)(_failing(counter, "flaky"))

    journal = MemoryJournal()
    out = execute(W(), journal)
    assert out.kind == "errored"
    assert out.error == ("RuntimeError", f"attempt {attempts} failed")
    assert counter.calls["flaky"] == attempts
    assert len(journal.steps()["flaky"].attempts) == attempts


@pytest.mark.parametrize(
    "backoff,expected",
    [
        ("constant", [0.05, 0.05, 0.05]),
        ("linear", [0.05, 0.1, 0.15]),
        ("exponential", [0.05, 0.1, 0.2]),
    ],
)
def test_retry_delays_follow_the_backoff(backoff, expected):
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": 3, "delay": 50, "backoff": backoff}}
            return await step.do("flaky", config=cfg)(_failing(counter, "flaky", succeed_on=4))

    journal = MemoryJournal()
    out = execute(W(), journal, hibernate_after=5)
    assert out.kind == "complete" and out.output == "4"
    attempts = journal.steps()["flaky"].attempts
    gaps = [b.started_at - a.ended_at for a, b in zip(attempts, attempts[1:], strict=False)]
    for gap, want in zip(gaps, expected, strict=False):
        assert want - 0.005 <= gap < want + 0.05


def test_long_retry_delay_hibernates_and_resumes():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": 1, "delay": 300}}
            return await step.do("flaky", config=cfg)(_failing(counter, "flaky", succeed_on=2))

    journal = MemoryJournal()
    first = execute(W(), journal, hibernate_after=0.1)
    assert first.kind == "hibernate"
    time.sleep(max(0, first.wake_at - time.time()))
    second = execute(W(), journal, hibernate_after=0.1)
    assert second.kind == "complete" and counter.calls["flaky"] == 2


def test_non_retryable_error_stops_retries():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge")
            def charge():
                counter.hit("charge")
                raise NonRetryableError("card declined", name="PaymentError")

            await charge()

    out = execute(W())
    assert out.kind == "errored" and out.error == ("PaymentError", "card declined")
    assert counter.calls["charge"] == 1


def test_attempt_timeout_is_a_failed_attempt():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            cfg = {"retries": {"limit": 1, "delay": 0}, "timeout": 50}

            @step.do("slow", config=cfg)
            async def slow():
                await asyncio.sleep(5)

            try:
                await slow()
            except StepTimeout as exc:
                return f"caught {type(exc).__name__}"

    journal = MemoryJournal()
    out = execute(W(), journal)
    assert out.output == '"caught StepTimeout"'
    assert [a.error_name for a in journal.steps()["slow"].attempts] == ["StepTimeout"] * 2


def test_caught_step_failure_lets_the_workflow_go_on():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.do("fails", config={"retries": {"limit": 0, "delay": 0}})(
                    _failing(Counter(), "x")
                )
            except Exception as exc:  # noqa: BLE001
                message = str(exc)
                return await step.do("clean up")(lambda: f"recovered from {message}")

    assert execute(W()).output == '"recovered from attempt 1 failed"'


class OutOfStock(Exception):
    pass


def test_replayed_error_keeps_type_name_and_message():
    seen: list[tuple[str, str, bool]] = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for name, exc in (("custom", OutOfStock), ("builtin", ValueError)):
                try:
                    await step.do(name, config={"retries": {"limit": 0, "delay": 0}})(
                        _failing(Counter(), name, exc=exc)
                    )
                except Exception as err:  # noqa: BLE001
                    seen.append((type(err).__name__, str(err), isinstance(err, ValueError)))
            await step.sleep("nap", 0.3)

    journal = MemoryJournal()
    assert execute(W(), journal, hibernate_after=0.1).kind == "hibernate"
    time.sleep(0.3)
    assert execute(W(), journal, hibernate_after=0.1).kind == "complete"
    first, replay = seen[:2], seen[2:]
    assert (
        first
        == replay
        == [
            ("OutOfStock", "attempt 1 failed", False),
            ("ValueError", "attempt 1 failed", True),
        ]
    )


def test_interrupted_attempt_is_retried_and_not_counted():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return await step.do("work", config={"retries": {"limit": 0, "delay": 0}})(
                lambda: counter.hit("work")
            )

    journal = MemoryJournal()
    # Simulate a process that died during the first attempt.
    from pyflow_actors.engine import AttemptRecord, StepRecord

    journal.begin_step(
        StepRecord(key="work", name="work", kind="step", seq=1, started_at=time.time())
    )
    journal.begin_attempt("work", AttemptRecord(n=1, started_at=time.time()))
    out = execute(W(), journal)
    assert out.kind == "complete" and out.output == "1"
    attempts = journal.steps()["work"].attempts
    assert [a.interrupted for a in attempts] == [True, False]


# ---------------------------------------------------------------------------
# sleeps


def test_short_sleep_runs_in_process():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            t = time.time()
            await step.sleep("short", 0.05)
            await step.sleep("td", dt.timedelta(milliseconds=20))
            await step.sleep_until("past", time.time() - 10)
            return time.time() - t

    out = execute(W(), hibernate_after=1)
    assert out.kind == "complete" and 0.06 <= float(out.output) < 1


def test_long_sleep_hibernates_with_recorded_wake_time_and_elapsed_sleep_returns_at_once():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("long", "2 seconds")
            return "woke"

    journal = MemoryJournal()
    t0 = time.time()
    first = execute(W(), journal, hibernate_after=0.5)
    assert first.kind == "hibernate" and abs(first.wake_at - (t0 + 2)) < 0.2
    assert journal.steps()["long"].wake_at == first.wake_at
    # Replayed before the wake time: hibernates again for the same alarm.
    again = execute(W(), journal, hibernate_after=0.5)
    assert again.kind == "hibernate" and again.wake_at == first.wake_at
    journal.steps()["long"].wake_at = time.time() - 1  # the alarm has passed
    assert execute(W(), journal, hibernate_after=0.5).output == '"woke"'


def test_sleep_limits_are_validated():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("too long", "366 days")

    out = execute(W())
    assert out.kind == "errored" and "365 days" in out.error[1]


# ---------------------------------------------------------------------------
# events


def test_event_sent_before_the_wait_is_buffered_and_consumed_once():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            a = await step.wait_for_event("first", "approval", timeout="1 minute")
            b = await step.wait_for_event("second", "approval", timeout="1 second")
            return [a["payload"], b["payload"]]

    journal = MemoryJournal()
    out = execute(W(), journal, events=[event("approval", 1), event("approval", 2)])
    assert out.output == '[{"v":1},{"v":2}]'
    assert journal.pending_events() == []
    # Replay returns the consumed events from the journal, nothing is consumed twice.
    assert execute(W(), journal).output == '[{"v":1},{"v":2}]'


def test_wait_result_has_type_payload_and_timestamp():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            got = await step.wait_for_event("w", "ping")
            assert isinstance(got["timestamp"], dt.datetime)
            return got["type"]

    assert execute(W(), events=[event("ping", 0)]).output == '"ping"'


def test_event_delivered_while_waiting():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            return (await step.wait_for_event("w", "go", timeout="5 seconds"))["payload"]

    journal = MemoryJournal()

    async def go():
        execution = Execution(W(), make_event(), journal, hibernate_after=2)
        task = asyncio.ensure_future(execution.run())
        await asyncio.sleep(0.05)
        execution.deliver(journal.add_events([event("go", 7)]))
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(go()).output == '{"v":7}'


def test_wait_timeout_is_catchable_and_uncaught_errors_the_instance():
    class Caught(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.wait_for_event("w", "never", timeout=1000)
            except WaitForEventTimeout:
                return "timed out"

    class Uncaught(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.wait_for_event("w", "never", timeout=1000)

    assert execute(Caught(), hibernate_after=5).output == '"timed out"'
    out = execute(Uncaught(), hibernate_after=5)
    assert out.kind == "errored" and out.error[0] == "WaitForEventTimeout"


def test_idle_event_wait_hibernates_with_the_types_it_waits_for():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.wait_for_event("w", "approved", timeout="1 hour")

    t0 = time.time()
    out = execute(W(), hibernate_after=0.2)
    assert out.kind == "hibernate" and out.waiting_for == ["approved"]
    assert 0.15 <= time.time() - t0 < 2
    assert abs(out.wake_at - (t0 + 3600)) < 5


def test_invalid_event_type_is_rejected():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.wait_for_event("w", "bad.type")

    out = execute(W())
    assert out.kind == "errored" and out.error[0] == "InvalidEventType"


# ---------------------------------------------------------------------------
# DAGs, gather, pause, cancel, limits


def test_dag_dependencies_run_once_and_feed_the_join():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                counter.hit("a")
                await asyncio.sleep(0.1)
                return 1

            @step.do("b")
            async def b():
                counter.hit("b")
                await asyncio.sleep(0.1)
                return 2

            first_a = await a()

            @step.do("join", depends=[a, b], concurrent=True)
            async def join(ra, rb):
                return ra + rb + first_a

            return await join()

    journal = MemoryJournal()
    t = time.time()
    assert execute(W(), journal).output == "4"
    assert counter.calls == {"a": 1, "b": 1}
    assert sorted(journal.steps()) == ["a", "b", "join"]
    assert time.time() - t < 1


def test_gather_over_steps_runs_them_concurrently():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            async def work(i):
                await asyncio.sleep(0.2)
                return i

            return await asyncio.gather(*(step.do(f"s{i}")(lambda i=i: work(i)) for i in range(5)))

    t = time.time()
    assert execute(W()).output == "[0,1,2,3,4]"
    assert time.time() - t < 0.9


def test_pause_lets_the_step_in_flight_finish_then_stops():
    counter = Counter()

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("slow")
            async def slow():
                await asyncio.sleep(0.2)
                return counter.hit("slow")

            await slow()
            await step.do("next")(lambda: counter.hit("next"))
            return "done"

    journal = MemoryJournal()

    async def go():
        execution = Execution(W(), make_event(), journal)
        task = asyncio.ensure_future(execution.run())
        await asyncio.sleep(0.05)
        execution.request_pause()
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(go()).kind == "paused"
    assert counter.calls == {"slow": 1}
    assert journal.steps()["slow"].state == "complete"
    assert execute(W(), journal).output == '"done"'
    assert counter.calls == {"slow": 1, "next": 1}


def test_cancel_stops_the_step_in_flight():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("forever")(lambda: asyncio.sleep(60))

    async def go():
        execution = Execution(W(), make_event(), MemoryJournal())
        task = asyncio.ensure_future(execution.run())
        await asyncio.sleep(0.05)
        execution.cancel()
        return await asyncio.wait_for(task, 2)

    assert asyncio.run(go()).kind == "cancelled"


def test_too_many_steps_is_an_error():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            for _ in range(1025):
                await step.do("s")(lambda: None)

    out = execute(W())
    assert out.kind == "errored" and "at most 1024" in out.error[1]


def test_invalid_step_config_is_a_clear_error():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.do("x", config={"retries": {"limit": 1, "backof": "linear"}})(lambda: 1)

    out = execute(W())
    assert out.kind == "errored" and "backof" in out.error[1]


def test_uncaught_user_error_gives_name_and_message():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            raise KeyError("missing")

    assert execute(W()).error == ("KeyError", "'missing'")


def test_step_error_subclasses_are_catchable_as_exception():
    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.do("x", config={"retries": {"limit": 0, "delay": 0}})(
                    _failing(Counter(), "x", exc=OutOfStock)
                )
            except StepError as err:
                return type(err).__name__

    assert execute(W()).output == '"OutOfStock"'
