"""The official ``cloudflare`` Python SDK, pointed at the gateway, on the real engine.

Every Workflows call the SDK has (but ``update`` and versions): list/get/delete
workflows; create, bulk, list, get, step; status edit; events.
"""

from __future__ import annotations

import datetime as dt
import json

import cloudflare
import pytest

from pyflow_actors.config import WorkflowSpec
from tests.api.conftest import ACCOUNT, OTHER_TOKEN, TOKEN, new_id
from tests.conftest import wait_for
from tests.workflows import Echo

pytestmark = pytest.mark.ray


def status_of(cf, workflow: str, instance_id: str) -> str:
    return cf.workflows.instances.get(
        instance_id, account_id=ACCOUNT, workflow_name=workflow, simple="true"
    ).status


def wait_status(cf, workflow: str, instance_id: str, *statuses: str, timeout: float = 30) -> None:
    wait_for(lambda: status_of(cf, workflow, instance_id) in statuses, timeout)


def test_list_and_get_workflows(cf):
    names = [w.name for w in cf.workflows.list(account_id=ACCOUNT)]
    assert {"echo", "waiter", "flaky"} <= set(names)
    echo = cf.workflows.get("echo", account_id=ACCOUNT)
    assert echo.name == "echo" and echo.class_name == "Echo"
    assert echo.script_name == "tests.workflows"
    assert isinstance(echo.created_on, dt.datetime) and isinstance(echo.instances, dict)
    page = cf.workflows.list(account_id=ACCOUNT, per_page=1, page=2)
    assert len(page.result) == 1 and page.result[0].name == sorted(names)[1]


def test_create_then_get_with_steps_attempts_and_config(cf):
    instance_id = new_id("sdk")
    created = cf.workflows.instances.create(
        "echo", account_id=ACCOUNT, instance_id=instance_id, params={"hello": "world"}
    )
    assert created.id == instance_id and created.status in ("queued", "running")
    assert created.workflow_id and created.version_id
    wait_status(cf, "echo", instance_id, "complete")
    got = cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name="echo")
    assert got.status == "complete" and got.success is True
    assert got.params == {"hello": "world"}
    assert got.output == {"echo": {"hello": "world"}, "instance": instance_id, "workflow": "echo"}
    assert isinstance(got.queued, dt.datetime) and got.start <= got.end
    assert got.step_count == 1 and got.trigger.source == "api" and got.version_id
    [step] = got.steps
    assert step.type == "step" and step.name == "echo" and step.success is True
    assert json.loads(step.output) == {"hello": "world"}
    assert step.config.retries.limit == 5 and step.config.retries.backoff == "exponential"
    [attempt] = step.attempts
    assert attempt.success is True and isinstance(attempt.start, dt.datetime)


def test_create_without_an_id_generates_one(cf):
    created = cf.workflows.instances.create("echo", account_id=ACCOUNT, params=3)
    assert len(created.id) == 36  # a UUID
    wait_status(cf, "echo", created.id, "complete")


def test_bulk_create_skips_ids_that_exist(cf):
    first, second = new_id("bulk"), new_id("bulk")
    cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id=first)
    page = cf.workflows.instances.bulk(
        "echo",
        account_id=ACCOUNT,
        body=[{"instance_id": first, "params": 1}, {"instance_id": second, "params": 2}],
    )
    assert [i.id for i in page] == [second]
    wait_status(cf, "echo", second, "complete")


def test_list_instances_filters_pages_and_directions(cf):
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # naive UTC, as the SDK says
    ids = [new_id("list") for _ in range(4)]
    for instance_id in ids:
        cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id=instance_id)
    for instance_id in ids:
        wait_status(cf, "echo", instance_id, "complete")

    mine = cf.workflows.instances.list("echo", account_id=ACCOUNT, date_start=started)
    assert [i.id for i in mine.result] == ids[::-1]  # newest first
    assert all(i.status == "complete" and i.ended_on for i in mine.result)
    oldest_first = cf.workflows.instances.list(
        "echo", account_id=ACCOUNT, date_start=started, direction="asc"
    )
    assert [i.id for i in oldest_first.result] == ids

    # page/per_page, and the SDK's auto-pagination over them
    first_page = cf.workflows.instances.list(
        "echo", account_id=ACCOUNT, date_start=started, per_page=3
    )
    assert len(first_page.result) == 3 and first_page.result_info.per_page == 3
    assert [i.id for i in first_page] == ids[::-1]  # iterating fetches page 2 too

    # cursor pagination
    seen, cursor = [], None
    while True:
        page = cf.workflows.instances.list(
            "echo", account_id=ACCOUNT, date_start=started, per_page=3, cursor=cursor
        )
        seen += [i.id for i in page.result]
        cursor = page.result_info.to_dict().get("cursor")
        if not cursor:
            break
    assert seen == ids[::-1]

    none_yet = cf.workflows.instances.list(
        "echo", account_id=ACCOUNT, date_start=started, status="errored"
    )
    assert none_yet.result == []
    before = cf.workflows.instances.list(
        "echo", account_id=ACCOUNT, date_end=started - dt.timedelta(days=3650)
    )
    assert before.result == []


def test_get_simple_and_step_order(cf, ledger):
    instance_id = new_id("order")
    params = {"ledger": ledger, "steps": 3, "step_seconds": 0.01}
    cf.workflows.instances.create(
        "ledger", account_id=ACCOUNT, instance_id=instance_id, params=params
    )
    wait_status(cf, "ledger", instance_id, "complete")
    get = cf.workflows.instances.get
    asc = get(instance_id, account_id=ACCOUNT, workflow_name="ledger")
    assert [s.name for s in asc.steps] == ["step-0", "step-1", "step-2"]
    desc = get(instance_id, account_id=ACCOUNT, workflow_name="ledger", order="desc")
    assert [s.name for s in desc.steps] == ["step-2", "step-1", "step-0"]
    simple = get(instance_id, account_id=ACCOUNT, workflow_name="ledger", simple="true")
    assert simple.steps == [] and simple.step_count == 3 and simple.output == 3


def test_step_output_and_attempts(cf, ledger):
    instance_id = new_id("flaky")
    params = {"ledger": ledger, "fail_times": 1, "limit": 3}
    cf.workflows.instances.create(
        "flaky", account_id=ACCOUNT, instance_id=instance_id, params=params
    )
    wait_status(cf, "flaky", instance_id, "complete")
    step = cf.workflows.instances.step
    done = step(instance_id, account_id=ACCOUNT, workflow_name="flaky", name="flaky", type="step")
    assert done.status == "complete" and done.output == 2 and done.error is None
    first = step(
        instance_id, account_id=ACCOUNT, workflow_name="flaky", name="flaky", type="step", attempt=1
    )
    assert first.status == "errored" and first.error.name == "ConnectionError"
    assert "attempt 1 failed" in first.error.message
    with pytest.raises(cloudflare.NotFoundError):
        step(instance_id, account_id=ACCOUNT, workflow_name="flaky", name="nope", type="step")


def test_events_and_the_wait_for_event_step(cf):
    instance_id = new_id("wait")
    cf.workflows.instances.create(
        "waiter", account_id=ACCOUNT, instance_id=instance_id, params={"type": "go"}
    )
    wait_status(cf, "waiter", instance_id, "running", "waiting")
    step = cf.workflows.instances.step
    wait_for(
        lambda: (
            step(
                instance_id,
                account_id=ACCOUNT,
                workflow_name="waiter",
                name="wait",
                type="waitForEvent",
            ).status
            == "waiting"
        ),
        30,
    )
    sent = cf.workflows.instances.events.create(
        "go", account_id=ACCOUNT, workflow_name="waiter", instance_id=instance_id, body={"n": 1}
    )
    assert sent.instance_id == instance_id and isinstance(sent.timestamp, dt.datetime)
    wait_status(cf, "waiter", instance_id, "complete")
    got = cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name="waiter")
    assert got.output == {"n": 1}
    [wait] = got.steps
    assert wait.type == "waitForEvent" and wait.finished and wait.event_type == "go"
    assert json.loads(wait.output)["payload"] == {"n": 1}
    detail = step(
        instance_id, account_id=ACCOUNT, workflow_name="waiter", name="wait", type="waitForEvent"
    )
    assert detail.status == "complete" and detail.output["payload"] == {"n": 1}


def test_status_edit_pause_resume_terminate_restart(cf):
    instance_id = new_id("ctl")
    edit = cf.workflows.instances.status.edit
    cf.workflows.instances.create(
        "waiter", account_id=ACCOUNT, instance_id=instance_id, params={"type": "never"}
    )
    wait_status(cf, "waiter", instance_id, "running", "waiting")
    paused = edit(instance_id, account_id=ACCOUNT, workflow_name="waiter", status="pause")
    assert paused.status in ("paused", "waitingForPause")
    assert isinstance(paused.timestamp, dt.datetime)
    wait_status(cf, "waiter", instance_id, "paused")
    edit(instance_id, account_id=ACCOUNT, workflow_name="waiter", status="resume")
    wait_status(cf, "waiter", instance_id, "running", "waiting", "queued")
    terminated = edit(instance_id, account_id=ACCOUNT, workflow_name="waiter", status="terminate")
    assert terminated.status == "terminated"
    got = cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name="waiter")
    assert got.steps[-1].type == "termination" and got.steps[-1].trigger.source == "api"
    restarted = edit(instance_id, account_id=ACCOUNT, workflow_name="waiter", status="restart")
    assert restarted.status in ("queued", "running")
    wait_status(cf, "waiter", instance_id, "running", "waiting")
    edit(instance_id, account_id=ACCOUNT, workflow_name="waiter", status="terminate")


def test_delete_workflow_removes_it_and_its_instances(cf, engine):
    from pyflow_actors.runtime.local import start_local

    joined = start_local(engine.config.with_workflows(WorkflowSpec.of("doomed", Echo)))
    joined.client.close()  # only registered the workflow
    instance_id = new_id("doomed")
    cf.workflows.instances.create("doomed", account_id=ACCOUNT, instance_id=instance_id)
    deleted = cf.workflows.delete("doomed", account_id=ACCOUNT)
    assert deleted.status == "ok"
    with pytest.raises(cloudflare.NotFoundError) as caught:
        cf.workflows.get("doomed", account_id=ACCOUNT)
    assert caught.value.errors[0].message.startswith("workflow.not_found: ")
    assert "doomed" not in [w.name for w in cf.workflows.list(account_id=ACCOUNT)]


def test_sdk_errors_carry_the_status_numeric_code_and_dotted_code(cf, gateway):
    from cloudflare import Cloudflare

    with pytest.raises(cloudflare.NotFoundError) as caught:
        cf.workflows.instances.get("missing", account_id=ACCOUNT, workflow_name="echo")
    [error] = caught.value.errors
    assert error.code == 10406 and error.message.startswith("instance.not_found: ")

    instance_id = new_id("dup")
    cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id=instance_id)
    with pytest.raises(cloudflare.ConflictError) as caught:
        cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id=instance_id)
    assert caught.value.errors[0].message.startswith("instance.already_exists: ")

    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.workflows.instances.create("echo", account_id=ACCOUNT, instance_id="not valid!")
    assert caught.value.errors[0].message.startswith("instance.invalid_id: ")

    wrong = Cloudflare(api_token="wrong", base_url=f"{gateway}/client/v4", max_retries=0)
    with pytest.raises(cloudflare.AuthenticationError):
        wrong.workflows.list(account_id=ACCOUNT)
    other = Cloudflare(api_token=OTHER_TOKEN, base_url=f"{gateway}/client/v4", max_retries=0)
    with pytest.raises(cloudflare.PermissionDeniedError):
        other.workflows.get("echo", account_id=ACCOUNT)
    assert TOKEN != OTHER_TOKEN
