"""The in-process test harness: the real replay engine on a virtual clock, with mocks."""

from __future__ import annotations

import asyncio
import time

import pytest

from pyflow_actors import NonRetryableError, WaitForEventTimeout, WorkflowEntrypoint
from pyflow_actors.engine.clock import VirtualClock
from pyflow_actors.errors import (
    HarnessUnsupported,
    HarnessWaitTimeout,
    InstanceAlreadyExists,
    InstanceNotAcceptingEvents,
    InvalidInstanceId,
    InvalidTransition,
    StatusUnreachable,
    ValidationError,
)
from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos
from pyflow_actors.testing import WorkflowHarness
from pyflow_actors.testing.ray_engine import RayHarness
from tests.unit.test_architecture import imported_after

pytestmark = pytest.mark.anyio

DAY = 86400.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Calls:
    """Counts how often each step's real code ran."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def hit(self, name: str) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        return self.counts[name]


CALLS = Calls()


class Monthly(WorkflowEntrypoint):
    async def run(self, event, step):
        first = await step.do("first")(lambda: CALLS.hit("first"))
        await step.sleep("a month", "30 days")
        second = await step.do("second")(lambda: CALLS.hit("second"))
        return {"first": first, "second": second}


class Checkout(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("charge", config={"retries": {"limit": 3, "delay": "1 minute"}})
        async def charge():
            CALLS.hit("charge")
            return {"charged": event["payload"]["amount"]}

        receipt = await charge()
        await step.do("email")(lambda: "sent")
        return receipt


class Approval(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("prepare")(lambda: "ready")
        try:
            approval = await step.wait_for_event("approval", "approved", timeout="2 days")
        except WaitForEventTimeout:
            return {"approved": False}
        return {"approved": True, "by": approval["payload"]["by"]}


@pytest.fixture(autouse=True)
def fresh_calls():
    CALLS.counts.clear()


@pytest.fixture
async def harness():
    h = WorkflowHarness()
    yield h
    await h.aclose()


async def test_a_thirty_day_sleep_finishes_in_milliseconds(harness):
    started = time.perf_counter()
    run = await harness.start(Monthly, id="m1")
    status = await run.wait_for_status("complete")
    assert time.perf_counter() - started < 1.0
    assert status.output == {"first": 1, "second": 1}
    assert harness.clock.now() - status.created_at == pytest.approx(30 * DAY)
    sleep = next(s for s in await run.steps() if s.type == "sleep")
    assert sleep.end - sleep.start == pytest.approx(30 * DAY)


async def test_a_mocked_result_replaces_the_step_code_and_is_journaled(harness):
    harness.mock_step("charge", result={"charged": "mocked"})
    run = await harness.start(Checkout, params={"amount": 5})
    assert await run.wait_for_step("charge") == {"charged": "mocked"}
    assert (await run.wait()).output == {"charged": "mocked"}
    charge = (await run.steps())[0]
    assert charge.name == "charge" and charge.success and len(charge.attempts) == 1
    assert "charge" not in CALLS.counts


async def test_a_mocked_error_on_chosen_attempts_then_the_real_code_runs(harness):
    harness.mock_step("charge", error=ConnectionError("card network down"), attempts=[1, 2])
    run = await harness.start(Checkout, params={"amount": 5})
    assert await run.wait_for_step("charge") == {"charged": 5}
    attempts = (await run.steps())[0].attempts
    assert [a.success for a in attempts] == [False, False, True]
    assert attempts[0].error.name == "ConnectionError"
    assert attempts[0].error.message == "card network down"
    # Exponential backoff from 1 minute, on the virtual clock: 1 then 2 minutes.
    assert attempts[1].start - attempts[0].end == pytest.approx(60)
    assert attempts[2].start - attempts[1].end == pytest.approx(120)
    assert CALLS.counts["charge"] == 1


async def test_a_mocked_error_on_every_attempt_fails_the_instance(harness):
    harness.mock_step("charge", error=NonRetryableError("declined", name="CardDeclined"))
    run = await harness.start(Checkout, params={"amount": 5})
    with pytest.raises(Exception, match="declined") as failed:
        await run.wait_for_step("charge")
    assert type(failed.value).__name__ == "CardDeclined"
    status = await run.wait_for_status("errored")
    assert status.error.name == "CardDeclined"


async def test_a_mocked_timeout_fails_the_attempt_when_its_timeout_passes(harness):
    harness.mock_step("charge", timeout=True, attempts=[1])
    run = await harness.start(Checkout, params={"amount": 5})
    assert await run.wait_for_step("charge") == {"charged": 5}
    first = (await run.steps())[0].attempts[0]
    assert first.error.name == "StepTimeout"
    assert first.end - first.start == pytest.approx(600)  # the default 10-minute timeout


async def test_waiting_for_the_step_of_a_mock_for_a_missing_step_says_so(harness):
    harness.mock_step("no such step", result=1)
    run = await harness.start(Checkout, params={"amount": 5})
    with pytest.raises(StatusUnreachable, match="'no such step'.*ended complete"):
        await run.wait_for_step("no such step")


async def test_a_mocked_event_reaches_the_wait(harness):
    harness.mock_event("approved", {"by": "ops"})
    run = await harness.start(Approval)
    assert (await run.wait()).output == {"approved": True, "by": "ops"}


async def test_a_sent_event_reaches_the_waiting_instance(harness):
    run = await harness.start(Approval)
    await run.wait_for_step("prepare")
    assert run.current_status == InstanceStatus.WAITING
    await run.send_event("approved", {"by": "ada"})
    assert (await run.wait()).output == {"approved": True, "by": "ada"}


async def test_time_skips_past_an_unanswered_wait_to_its_timeout(harness):
    run = await harness.start(Approval)
    status = await run.wait_for_status("complete")
    assert status.output == {"approved": False}
    assert harness.clock.now() - status.created_at == pytest.approx(2 * DAY)


async def test_disabled_sleeps_return_at_once_without_moving_the_clock(harness):
    harness.disable_sleeps()
    run = await harness.start(Monthly)
    status = await run.wait_for_status("complete")
    assert harness.clock.now() == pytest.approx(status.created_at)


async def test_disabled_retry_delays_retry_at_once(harness):
    harness.disable_retry_delays("charge")
    harness.mock_step("charge", error=ConnectionError("down"), attempts=[1])
    run = await harness.start(Checkout, params={"amount": 5})
    await run.wait_for_step("charge")
    first, second = (await run.steps())[0].attempts
    assert second.start == pytest.approx(first.end)


async def test_without_time_skipping_the_clock_moves_only_when_advanced():
    harness = WorkflowHarness(time_skipping=False, wait_timeout=0.2)
    try:
        run = await harness.start(Monthly)
        await run.wait_for_status("waiting")
        harness.clock.advance("29 days")
        with pytest.raises(HarnessWaitTimeout, match="to be complete"):
            await run.wait_for_status("complete")
        harness.clock.advance("1 day")
        assert (await run.wait_for_status("complete")).output == {"first": 1, "second": 1}
    finally:
        await harness.aclose()


async def test_waiting_for_a_status_the_instance_cannot_reach_fails_at_once(harness):
    harness.mock_step("charge", error=NonRetryableError("declined"))
    run = await harness.start(Checkout, params={"amount": 5})
    with pytest.raises(StatusUnreachable, match="ended errored"):
        await run.wait_for_status("complete")


async def test_pause_holds_a_sleeping_instance_and_resume_replays_it(harness):
    run = await harness.start(Monthly)
    await run.wait_for_step("first")
    await run.pause()
    await run.wait_for_status("paused")
    harness.clock.advance("31 days")
    await asyncio.sleep(0.01)
    assert run.current_status == InstanceStatus.PAUSED
    await run.resume()
    assert (await run.wait()).output == {"first": 1, "second": 1}
    assert CALLS.counts == {"first": 1, "second": 1}  # the replay ran no step twice


async def test_terminate_is_final(harness):
    run = await harness.start(Monthly)
    await run.wait_for_step("first")
    await run.terminate()
    assert (await run.status()).status == InstanceStatus.TERMINATED
    with pytest.raises(InvalidTransition):
        await run.terminate()
    with pytest.raises(InstanceNotAcceptingEvents):
        await run.send_event("approved")


async def test_restart_runs_the_instance_again_from_the_start(harness):
    run = await harness.start(Monthly)
    await run.wait_for_step("first")
    await run.restart()
    assert (await run.wait()).output == {"first": 2, "second": 1}


async def test_a_hibernating_harness_replays_the_journal_on_wake():
    harness = WorkflowHarness(hibernate_after="1 minute")
    try:
        run = await harness.start(Monthly)
        assert (await run.wait()).output == {"first": 1, "second": 1}
        assert CALLS.counts == {"first": 1, "second": 1}
    finally:
        await harness.aclose()


async def test_an_instance_id_is_unique_per_workflow(harness):
    await harness.start(Monthly, id="same")
    with pytest.raises(InstanceAlreadyExists):
        await harness.start(Monthly, id="same")


def test_a_virtual_clock_wakes_sleepers_in_deadline_order():
    async def go() -> list[str]:
        clock, woke = VirtualClock(start=0), []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(f"{name}@{clock.now():g}")

        tasks = [asyncio.ensure_future(sleeper(n, s)) for n, s in (("b", 20), ("a", 10))]
        await asyncio.sleep(0)
        clock.advance(15)
        await asyncio.sleep(0)
        clock.advance("5 seconds")
        await asyncio.gather(*tasks)
        return woke

    assert asyncio.run(go()) == ["a@15", "b@20"]


def test_the_ray_harness_refuses_mocks_and_the_virtual_clock(tmp_path):
    harness = RayHarness(tmp_path)
    with pytest.raises(HarnessUnsupported, match="in-process"):
        harness.mock_step("charge", result=1)
    with pytest.raises(HarnessUnsupported):
        harness.clock.advance("1 day")


async def test_journals_can_be_duckdb_files_laid_out_as_the_engines(tmp_path):
    harness = WorkflowHarness(journals=tmp_path)
    try:
        run = await harness.start(Monthly, id="m1")
        await run.wait_for_step("first")
        await run.pause()  # the resume replays from the file
        await run.wait_for_status("paused")
        await run.resume()
        assert (await run.wait()).output == {"first": 1, "second": 1}
    finally:
        await harness.aclose()
    with DuckJournal(journal_path(tmp_path, "monthly", "m1"), read_only=True) as journal:
        assert journal.result().status == "complete"
        assert journal.meta()["instance_id"] == "m1"
        assert [s.name for s in step_infos(journal)] == ["first", "a month", "second"]
    assert CALLS.counts == {"first": 1, "second": 1}


def test_the_in_process_harness_needs_no_ray_and_no_web_stack():
    loaded = imported_after("pyflow_actors.testing.harness")
    assert not loaded & {"ray", "fastapi", "uvicorn", "starlette", "httpx"}


async def test_bad_input_is_refused_at_start_as_the_engine_refuses_it(harness):
    with pytest.raises(InvalidInstanceId):
        await harness.start(Monthly, id="not/valid")
    with pytest.raises(ValidationError, match="params"):
        await harness.start(Monthly, params={"when": object()})
    assert harness.runs == []


GATE: dict[str, asyncio.Event] = {}


class Gated(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("slow")
        async def slow():
            await GATE["open"].wait()
            return "through"

        first = await slow()
        second = await step.do("next")(lambda: CALLS.hit("next"))
        return [first, second]


async def test_a_pause_lets_the_step_in_flight_finish_first(harness):
    GATE["open"] = asyncio.Event()
    run = await harness.start(Gated)
    await run.wait_for_step_start("slow")
    await run.pause()
    assert run.current_status == InstanceStatus.WAITING_FOR_PAUSE
    GATE["open"].set()
    await run.wait_for_status("paused")
    # "next" is journaled as begun, but no attempt of it started.
    assert [(s.name, len(s.attempts)) for s in await run.steps()] == [("slow", 1), ("next", 0)]
    await run.resume()
    assert (await run.wait()).output == ["through", 1]


async def test_terminate_cancels_the_step_in_flight(harness):
    harness.mock_step("charge", timeout=True)
    run = await harness.start(Checkout, params={"amount": 5})
    await run.wait_for_step_start("charge")
    await run.terminate()
    assert (await run.status()).status == InstanceStatus.TERMINATED
    charge = (await run.steps())[0]
    assert not charge.finished and charge.attempts[0].end is None


class Parent(WorkflowEntrypoint):
    async def run(self, event, step):
        child = await step.do("start child")(lambda: self.env.CHILD.create(id="kid", params=3))
        return child


class Child(WorkflowEntrypoint):
    async def run(self, event, step):
        return await step.do("double")(lambda: event["payload"] * 2)


async def test_a_binding_starts_child_instances_whose_handles_steps_may_return(harness):
    harness.register(Child, binding="CHILD")
    run = await harness.start(Parent)
    assert (await run.wait()).output == {"id": "kid", "workflow": "child"}
    child = harness.get("child", "kid")
    await child.wait()
    detail = await child.describe()
    assert detail.params == 3 and detail.steps[0].output == 6
