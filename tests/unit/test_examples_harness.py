"""The examples' workflows on the in-process harness: their sleeps and waits take no real time.

(tests/api/test_examples.py drives the same workflows through the gateway, in real time.)
"""

from __future__ import annotations

import time

import pytest

from examples.fanout import Fanout
from examples.hello import Hello
from examples.onboarding import Onboarding
from examples.trial import Trial
from examples.trip import Trip

pytestmark = pytest.mark.anyio

HOUR = 3600.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_hello_greets_with_the_configured_greeting(workflow_harness):
    workflow_harness.vars["GREETING"] = "Bonjour"
    run = await workflow_harness.start(Hello, params={"name": "Ada"})
    assert await run.wait_for_step("greet") == "Bonjour, Ada!"
    status = await run.wait_for_status("complete")
    assert status.output == "Bonjour, Ada!"


async def test_onboarding_completes_once_approved(workflow_harness):
    run = await workflow_harness.start(Onboarding, params={"email": "ada@example.com"}, id="ada")
    await run.wait_for_step("give them a moment")
    await run.send_event("approved", {"by": "ops"})
    status = await run.wait_for_status("complete")
    assert status.output == {"account": "ada", "active": True, "approved_by": "ops"}
    names = [s.name for s in await run.steps()]
    assert names == [
        "create account",
        "send welcome email",
        "give them a moment",
        "wait for approval",
        "activate",
    ]


async def test_onboarding_gives_up_after_its_hour_in_milliseconds(workflow_harness):
    started = time.perf_counter()
    run = await workflow_harness.start(Onboarding, params={"email": "ada@example.com"})
    status = await run.wait_for_status("complete")
    assert time.perf_counter() - started < 1.0
    assert status.output == {"account": "ada", "approved": False}
    assert workflow_harness.clock.now() - status.created_at >= HOUR + 3


async def test_onboarding_retries_account_creation_with_backoff(workflow_harness):
    workflow_harness.mock_event("approved", {"by": "ops"})
    workflow_harness.mock_step("create account", error=TimeoutError("idp slow"), attempts=[1, 2])
    run = await workflow_harness.start(Onboarding, params={"email": "ada@example.com"})
    assert await run.wait_for_step("create account") == {
        "email": "ada@example.com",
        "account": "ada",
    }
    attempts = (await run.steps())[0].attempts
    assert [a.success for a in attempts] == [False, False, True]
    gaps = [attempts[n].start - attempts[n - 1].end for n in (1, 2)]
    assert gaps == pytest.approx([1.0, 2.0])  # "1 second", exponential


async def test_onboarding_refuses_a_bad_email_without_retrying(workflow_harness):
    run = await workflow_harness.start(Onboarding, params={"email": "nobody"})
    status = await run.wait_for_status("errored")
    assert status.error.name == "InvalidEmail"
    assert len((await run.steps())[0].attempts) == 1


async def test_fanout_starts_a_hello_child_per_url(workflow_harness):
    workflow_harness.register(Hello, name="hello", binding="HELLO")
    run = await workflow_harness.start(Fanout, params={"urls": ["a", "bb"]}, id="fan")
    status = await run.wait_for_status("complete")
    assert status.output == {"total": 3, "children": ["fan-0", "fan-1"]}
    child = workflow_harness.get("hello", "fan-1")
    assert (await child.wait()).output == "Hello, bb!"


async def test_trial_sleeps_its_30_days_in_under_a_second(workflow_harness):
    started = time.perf_counter()
    run = await workflow_harness.start(Trial, params={"email": "ada@example.com"})
    status = await run.wait_for_status("complete")
    assert time.perf_counter() - started < 1.0
    assert workflow_harness.clock.now() - status.created_at >= 30 * 24 * HOUR
    assert status.output == {"account": {"email": "ada@example.com", "plan": "pro"}, "charged": 20}
    names = [s.name for s in await run.steps()]
    assert names == ["start trial", "send welcome email", "trial", "charge"]  # a new trial: patched


async def test_trip_cancels_hotel_then_flight_when_the_card_is_declined(workflow_harness):
    run = await workflow_harness.start(Trip, params={"card": "declined"})
    status = await run.wait_for_status("errored")
    assert status.error.name == "PaymentDeclined"
    steps = await run.steps()
    assert [(s.type, s.name) for s in steps if s.type == "rollback"] == [
        ("rollback", "book hotel-1"),
        ("rollback", "book flight-1"),
    ]
    assert all(s.success for s in steps if s.type == "rollback")


async def test_a_trip_paid_for_rolls_nothing_back(workflow_harness):
    run = await workflow_harness.start(Trip, params={"to": "Porto"})
    status = await run.wait_for_status("complete")
    assert status.output["to"] == "Porto" and status.output["charged"] == 420
    assert [s.type for s in await run.steps()] == ["step", "step", "step"]


async def test_terminating_a_trip_with_rollback_cancels_what_it_booked(workflow_harness):
    workflow_harness.mock_step("charge card", timeout=True)  # the charge hangs
    run = await workflow_harness.start(Trip, params={"to": "Faro"})
    await run.wait_for_step("book hotel")

    await run.terminate(rollback=True)

    status = await run.wait_for_status("terminated")
    assert status.status == "terminated"
    rollbacks = [s for s in await run.steps() if s.type == "rollback"]
    assert [s.name for s in rollbacks] == ["book hotel-1", "book flight-1"]
    assert all(s.success for s in rollbacks)
