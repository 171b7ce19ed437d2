"""The engine on the shared local Ray: lifecycle, hibernation, events, control, limits."""

from __future__ import annotations

import time
import uuid

import pytest

from pyflow_actors.errors import (
    InstanceAlreadyExists,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidInstanceId,
    InvalidTransition,
    PayloadTooLarge,
    ValidationError,
    WorkflowNotFound,
)
from tests.conftest import is_live, wait_for
from tests.workflows import ledger_lines

pytestmark = pytest.mark.ray


@pytest.fixture
def client(placed_client):
    """Every behaviour here runs for both placements, dedicated and shared."""
    return placed_client


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def status_of(instance) -> str:
    return instance.status().status.value


def test_create_runs_to_complete_with_output(client):
    instance = client.workflow("echo").create(id=uid(), params={"x": 1})
    status = instance.wait(30)
    assert status.status.value == "complete"
    assert status.output == {
        "echo": {"x": 1},
        "instance": instance.id,
        "workflow": instance.workflow,
    }
    assert status["status"] == "complete" and status.error is None
    assert status.started_at >= status.created_at and status.ended_at >= status.started_at


def test_generated_ids_and_get(client):
    instance = client.workflow("echo").create(params=None)
    uuid.UUID(instance.id)  # a UUID4 when no id is given
    assert client.workflow("echo").get(instance.id).id == instance.id
    instance.wait(30)


def test_bad_input_is_refused_with_clear_errors(client):
    echo = client.workflow("echo")
    with pytest.raises(InvalidInstanceId, match="letters, digits"):
        echo.create(id="a.b")
    with pytest.raises(PayloadTooLarge, match="limit is 1048576"):
        echo.create(id=uid(), params="x" * (1 << 20))
    with pytest.raises(InstanceNotFound):
        echo.get("does-not-exist")
    with pytest.raises(WorkflowNotFound):
        client.workflow("nope").create()
    with pytest.raises(ValidationError, match="at most 100"):
        echo.create_batch([{"params": i} for i in range(101)])


def test_duplicate_id_is_refused_and_create_batch_skips_existing(client):
    echo = client.workflow("echo")
    first = uid("dup")
    echo.create(id=first)
    with pytest.raises(InstanceAlreadyExists):
        echo.create(id=first)
    new = [uid("b"), uid("b")]
    created = echo.create_batch([{"id": first}, {"id": new[0]}, {"id": new[1], "params": 2}])
    assert [i.id for i in created] == new
    again = echo.create_batch([{"id": new[0]}, {"id": new[1]}])
    assert again == []
    for instance_id in (first, *new):
        assert echo.get(instance_id).wait(30).status.value == "complete"


def test_failed_step_errors_instance_with_name_and_message(client, ledger):
    instance = client.workflow("flaky").create(
        params={"ledger": ledger, "fail_times": 10, "limit": 2}
    )
    status = instance.wait(30)
    assert status.status.value == "errored"
    assert status.error.name == "ConnectionError" and status.error.message == "attempt 3 failed"
    assert len(ledger_lines(ledger)) == 3  # 1 attempt + 2 retries
    steps = instance.describe().steps
    assert [a.success for a in steps[0].attempts] == [False, False, False]


def test_retries_then_succeeds_and_non_retryable_stops(client, ledger, tmp_path):
    ok = client.workflow("flaky").create(params={"ledger": ledger, "fail_times": 2})
    assert ok.wait(30).output == 3
    fatal_ledger = str(tmp_path / "fatal.txt")
    fatal = client.workflow("flaky").create(params={"ledger": fatal_ledger, "non_retryable": True})
    status = fatal.wait(30)
    assert status.error.name == "Fatal" and len(ledger_lines(fatal_ledger)) == 1


def test_long_sleep_hibernates_without_an_actor_and_wakes(client, ledger):
    instance = client.workflow("ledger").create(
        id=uid("sleep"), params={"ledger": ledger, "steps": 2, "sleep": 5}
    )  # a shared one is taken back by its host ~2 s before its alarm: hibernated until then
    waiting = wait_for(lambda: (s := instance.status()).status.value == "waiting" and s, 15)
    assert waiting.wake_at is not None
    assert not is_live(instance.workflow, instance.id)  # hibernated: no process
    status = instance.wait(30)
    assert status.status.value == "complete" and status.output == 1
    assert time.time() >= waiting.wake_at
    # The step before the sleep ran once, although run() replayed from the top.
    assert ledger_lines(ledger).count(f"{instance.id} step-0") == 1
    kinds = [(s.type, s.name) for s in instance.describe().steps]
    assert kinds == [("step", "step-0"), ("sleep", "nap"), ("step", "step-1")]


def test_event_wakes_a_hibernated_instance(client, ledger):
    instance = client.workflow("ledger").create(
        id=uid("ev"), params={"ledger": ledger, "steps": 2, "wait_for": "approved"}
    )
    waiting = wait_for(lambda: (s := instance.status()).status.value == "waiting" and s, 15)
    assert waiting.waiting_for == ["approved"]
    wait_for(lambda: not is_live(instance.workflow, instance.id), 10)
    instance.send_event("unrelated", {"add": 100})  # buffered, does not wake it
    time.sleep(0.3)
    assert status_of(instance) == "waiting"
    instance.send_event("approved", {"add": 10})
    assert instance.wait(30).output == 11
    assert ledger_lines(ledger).count(f"{instance.id} step-0") == 1


def test_event_sent_before_the_wait_is_buffered_and_consumed_once(client):
    instance = client.workflow("waiter").create(id=uid("buf"), params={"type": "early"})
    instance.send_event("early", {"n": 1})
    instance.send_event("early", {"n": 2})
    assert instance.wait(30).output == {"n": 1}
    wait_steps = [s for s in instance.describe().steps if s.type == "waitForEvent"]
    assert len(wait_steps) == 1 and wait_steps[0].output["payload"] == {"n": 1}


def test_wait_timeout_catchable_and_uncaught(client):
    caught = client.workflow("waiter").create(params={"timeout": 1, "catch": True})
    uncaught = client.workflow("waiter").create(params={"timeout": 1})
    assert caught.wait(30).output == "timed out"
    status = uncaught.wait(30)
    assert status.status.value == "errored" and status.error.name == "WaitForEventTimeout"


def test_events_to_final_instances_are_refused(client):
    instance = client.workflow("echo").create()
    instance.wait(30)
    with pytest.raises(InstanceNotAcceptingEvents):
        instance.send_event("late", {})
    with pytest.raises(ValidationError):
        client.workflow("waiter").create().send_event("bad.type", {})


def test_pause_waits_for_the_step_in_flight_then_resume_continues(client, ledger):
    instance = client.workflow("ledger").create(
        id=uid("pause"), params={"ledger": ledger, "steps": 3, "step_seconds": 1.0}
    )
    wait_for(lambda: ledger_lines(ledger), 20)
    instance.pause()
    assert status_of(instance) in ("waitingForPause", "paused")
    wait_for(lambda: status_of(instance) == "paused", 10)
    lines = ledger_lines(ledger)
    time.sleep(1.2)
    assert ledger_lines(ledger) == lines  # nothing runs while paused
    assert not is_live(instance.workflow, instance.id)
    instance.resume()
    assert instance.wait(30).output == 3
    assert sorted(ledger_lines(ledger)) == sorted(f"{instance.id} step-{i}" for i in range(3))


def test_pause_and_resume_a_queued_or_waiting_instance(client):
    waiter = client.workflow("waiter").create(id=uid("pw"), params={"type": "go"})
    wait_for(lambda: status_of(waiter) == "waiting", 15)
    waiter.pause()
    # Waiting shows while the actor still listens: it pauses then (waitingForPause
    # for a moment); a hibernated one is paused at once.
    wait_for(lambda: status_of(waiter) == "paused", 15)
    waiter.send_event("go", "while paused")
    time.sleep(0.5)
    assert status_of(waiter) == "paused"  # held
    waiter.resume()
    assert waiter.wait(30).output == "while paused"
    waiter.resume()  # resuming a non-paused instance does nothing


def test_terminate_running_and_terminating_final_is_an_error(client, ledger):
    instance = client.workflow("ledger").create(
        params={"ledger": ledger, "steps": 5, "step_seconds": 1.0}
    )
    wait_for(lambda: ledger_lines(ledger), 20)
    instance.terminate()
    assert status_of(instance) == "terminated"
    time.sleep(1.2)
    assert len(ledger_lines(ledger)) <= 2
    with pytest.raises(InvalidTransition):
        instance.terminate()
    with pytest.raises(InvalidTransition):
        instance.pause()


def test_restart_erases_history_and_runs_again(client, ledger):
    instance = client.workflow("ledger").create(params={"ledger": ledger, "steps": 2})
    assert instance.wait(30).output == 1
    instance.restart()
    assert instance.wait(30).output == 1
    assert len(ledger_lines(ledger)) == 4
    assert len(instance.describe().steps) == 2


def test_child_workflow_from_env_binding(client):
    parent = client.workflow("parent").create(id=uid("parent"))
    out = parent.wait(30).output
    assert out["greeting"] == "hi"
    child = client.base.workflow("echo").get(out["child"])  # ECHO: the dedicated echo
    assert child.wait(30).output["echo"] == {"from": parent.id}


def test_status_of_a_hibernated_instance_does_not_wake_it(client):
    waiter = client.workflow("waiter").create(id=uid("ro"), params={"type": "never"})
    wait_for(lambda: status_of(waiter) == "waiting", 15)
    wait_for(lambda: not is_live(waiter.workflow, waiter.id), 10)
    for _ in range(5):
        waiter.status()
        waiter.describe()
    assert not is_live(waiter.workflow, waiter.id)
    waiter.terminate()


def test_list_instances_filters_and_pages(client):
    ids = [uid("list") for _ in range(3)]
    for instance_id in ids:
        client.workflow("echo").create(id=instance_id).wait(30)
    page = client.workflow("echo").list(status="complete", page=1, per_page=2)
    assert page.total >= 3 and len(page.instances) == 2
    newest_first = [i.id for i in client.workflow("echo").list(per_page=1000).instances]
    assert newest_first.index(ids[2]) < newest_first.index(ids[0])
    with pytest.raises(ValidationError):
        client.workflow("echo").list(status="sleeping")
