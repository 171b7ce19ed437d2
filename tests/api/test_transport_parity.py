"""One client suite, two transports: Ray handle calls and HTTP through the gateway.

Each test runs four times (``any_client`` is parametrized ``ray`` / ``http``,
and here each workflow ``dedicated`` / ``shared``) and must see the same
behaviour, the same results and the same error classes.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from pyflow_actors.errors import (
    InstanceAlreadyExists,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidEventType,
    InvalidInstanceId,
    InvalidTransition,
    PayloadTooLarge,
    ValidationError,
    WorkflowNotFound,
)
from pyflow_actors.models import InstanceStatus
from tests.api.conftest import new_id
from tests.conftest import PlacedClient, wait_for

pytestmark = pytest.mark.ray


@pytest.fixture(params=["dedicated", "shared"])
def placement(request) -> str:
    return request.param


@pytest.fixture
def any_client(any_client, placement) -> PlacedClient:
    """The conftest's client (Ray or HTTP), on each placement's copy of the workflows."""
    return PlacedClient(any_client, placement)


def test_create_wait_and_read_the_output(any_client):
    instance = any_client.workflow("echo").create(id=new_id("p"), params={"n": [1, 2]})
    status = instance.wait(30)
    assert status.status == InstanceStatus.COMPLETE and status.is_final
    assert status.output == {
        "echo": {"n": [1, 2]},
        "instance": instance.id,
        "workflow": instance.workflow,
    }
    assert status.created_at <= status.started_at <= status.ended_at
    assert status.error is None and status["status"] == "complete"


def test_describe_gives_params_and_steps(any_client, ledger):
    instance = any_client.workflow("ledger").create(
        params={"ledger": ledger, "steps": 2, "step_seconds": 0.01}
    )
    instance.wait(30)
    detail = instance.describe()
    assert detail.params["steps"] == 2 and detail.status.output == 1
    assert [(s.type, s.name, s.finished, s.success, s.output) for s in detail.steps] == [
        ("step", "step-0", True, True, 0),
        ("step", "step-1", True, True, 1),
    ]
    [attempt] = detail.steps[0].attempts
    assert attempt.success is True and attempt.end >= attempt.start
    assert detail.steps[0].config["retries"]["limit"] == 5


def test_a_failed_step_shows_its_attempts_and_error(any_client, ledger):
    instance = any_client.workflow("flaky").create(params={"ledger": ledger, "fail_times": 9})
    status = instance.wait(30)
    assert status.status == InstanceStatus.ERRORED
    assert status.error.name == "ConnectionError" and "failed" in status.error.message
    [step] = instance.describe().steps
    assert step.finished and step.success is False and len(step.attempts) == 4
    assert all(a.error.name == "ConnectionError" for a in step.attempts)


def test_duplicate_and_invalid_ids(any_client):
    echo = any_client.workflow("echo")
    instance_id = new_id("dup")
    echo.create(id=instance_id)
    with pytest.raises(InstanceAlreadyExists):
        echo.create(id=instance_id)
    with pytest.raises(InvalidInstanceId):
        echo.create(id="no spaces")
    with pytest.raises(PayloadTooLarge):
        echo.create(params="x" * (1 << 20))
    with pytest.raises(ValidationError, match="not JSON-serializable"):
        echo.create(params=object())


def test_unknown_workflow_and_instance(any_client):
    with pytest.raises(WorkflowNotFound):
        any_client.workflow("no-such-flow").create()
    with pytest.raises(InstanceNotFound):
        any_client.workflow("echo").get("no-such-instance")


def test_create_batch_skips_existing_ids(any_client):
    echo = any_client.workflow("echo")
    a, b = new_id("ba"), new_id("bb")
    echo.create(id=a)
    created = echo.create_batch([{"id": a, "params": 1}, {"id": b, "params": 2}])
    assert [i.id for i in created] == [b]
    assert created[0].wait(30).output["echo"] == 2
    with pytest.raises(ValidationError, match="at most 100"):
        echo.create_batch([{"params": i} for i in range(101)])


def test_list_filters_and_pages(any_client):
    echo = any_client.workflow("echo")
    since = time.time()
    ids = [i.id for i in echo.create_batch([{"id": new_id("l"), "params": n} for n in range(3)])]
    for instance_id in ids:
        echo.get(instance_id).wait(30)
    page = echo.list(created_after=since, per_page=2)
    assert page.total == 3 and page.per_page == 2 and len(page.instances) == 2
    second = echo.list(created_after=since, per_page=2, page=2)
    listed = {i.id for i in page.instances + second.instances}
    assert listed == set(ids)
    oldest = echo.list(created_after=since, reverse=True, per_page=1).instances[0]
    newest = echo.list(created_after=since, per_page=1).instances[0]
    assert oldest.created_at <= newest.created_at
    assert echo.list(created_after=since, status="errored").total == 0
    assert echo.list(created_before=since - 86400 * 3650).total == 0
    with pytest.raises(ValidationError):
        echo.list(status="sleeping")


def test_events_are_delivered_and_refused_once_final(any_client):
    waiter = any_client.workflow("waiter")
    instance = waiter.create(params={"type": "go"})
    instance.send_event("go", {"ok": True})  # may arrive before the wait: buffered
    assert instance.wait(30).output == {"ok": True}
    with pytest.raises(InstanceNotAcceptingEvents):
        instance.send_event("go", {})
    with pytest.raises(InvalidEventType):
        instance.send_event("not valid", {})


def test_pause_resume_terminate_restart(any_client):
    waiter = any_client.workflow("waiter")
    instance = waiter.create(params={"type": "never"})
    wait_for(lambda: instance.status().status in ("running", "waiting"), 30)
    instance.pause()
    wait_for(lambda: instance.status().status == InstanceStatus.PAUSED, 30)
    instance.resume()
    wait_for(lambda: instance.status().status != InstanceStatus.PAUSED, 30)
    instance.terminate()
    status = instance.status()
    assert status.status == InstanceStatus.TERMINATED and status.ended_at is not None
    assert instance.describe().terminated_by == "api"
    with pytest.raises(InvalidTransition):
        instance.terminate()
    instance.restart()
    wait_for(lambda: instance.status().status in ("running", "waiting"), 30)
    instance.send_event("never", "now")
    assert instance.wait(30).output == "now"


def test_waiting_instance_reports_what_it_waits_for(any_client):
    instance = any_client.workflow("waiter").create(params={"type": "later", "timeout": 600})
    status = wait_for(lambda: (s := instance.status()).status == InstanceStatus.WAITING and s, 30)
    assert status.waiting_for == ["later"]
    assert status.wake_at > time.time() + 500
    [wait] = instance.describe().steps
    assert wait.type == "waitForEvent" and not wait.finished and wait.event_type == "later"
    instance.terminate()


def test_workflows_are_listed_with_counts(any_client):
    names = {w.name: w for w in any_client.workflows()}
    assert {"echo", "waiter", "flaky"} <= set(names)
    echo = any_client.workflow("echo").info()
    assert echo.class_name == "tests.workflows:Echo"
    assert echo.binding == echo.name.upper().replace("-", "_")
    assert echo.instances.get("complete", 0) >= 1
    assert isinstance(dt.datetime.fromtimestamp(echo.created_at), dt.datetime)
