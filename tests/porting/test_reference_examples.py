"""The reference's Python examples run as written: only pyflow.toml is ours (tests/porting/cases).

Their 10-second sleeps are not waited out: once an instance sleeps (hibernated,
its wake time set), the engine's clock (``engine_clock``) is brought to that
time and the supervisor's alarm wakes it."""

from __future__ import annotations

import json
import logging

import pytest

from service.schemas import parse_iso
from tests.conftest import EngineClock, wait_for

pytestmark = pytest.mark.ray

FINAL = {"complete", "errored", "terminated"}


def finished(case, workflow: str, instance_id: str, timeout: float = 90) -> dict:
    """The instance once it is final (complete, errored or terminated)."""

    def done():
        found = case.instance(workflow, instance_id)
        return found if found["status"] in FINAL else None

    return wait_for(done, timeout, 0.2)


def only_instance(case, workflow: str) -> str:
    return wait_for(lambda: case.instances(workflow), 30, 0.1)[0]["id"]


def wake_from_its_sleep(case, clock: EngineClock, workflow: str, instance_id: str) -> None:
    """Once the instance sleeps (or is already final), move the engine's clock to its wake."""

    def asleep_or_final():
        found = case.instance(workflow, instance_id)
        return found if found["wake_on"] or found["status"] in FINAL else None

    found = wait_for(asleep_or_final, 60, 0.2)
    if found["wake_on"]:
        clock.advance_to(parse_iso(found["wake_on"], "wake_on"))


def step_names(instance: dict) -> list[str]:
    return [s["name"] for s in instance["steps"]]


def test_get_started_on_fetch_creates_and_the_workflow_runs_both_steps(case) -> None:
    started = case("get_started")
    response = started.worker.get("/")
    assert (response.status_code, response.text) == (200, "Hello world!")
    done = finished(started, "workflows-demo", only_instance(started, "workflows-demo"))
    assert done["status"] == "complete"
    assert step_names(done) == ["step1", "step2"]


def test_dag_runs_dependencies_then_the_final_step(case, engine_clock) -> None:
    dag = case("dag")
    assert dag.worker.get("/").text == "Hello world!"
    instance_id = only_instance(dag, "dag-demo")
    wake_from_its_sleep(dag, engine_clock, "dag-demo", instance_id)
    done = finished(dag, "dag-demo", instance_id, timeout=120)
    assert done["status"] == "complete", done
    names = step_names(done)
    assert names[0] == "demo sleep" and names[-1] == "demo do"
    assert set(names[1:3]) == {"dependency1", "dependency2"}


def test_the_workers_api_pages_workflows_run_as_the_page_says(case, engine_clock) -> None:
    api = case("workers_api")
    assert api.worker.get("/").json() == {"status": "success"}  # Default.fetch -> create()
    made = {}
    for workflow in (
        "api-sleep",
        "api-sleep-until",
        "api-errors",
        "api-non-retryable",
        "api-config",
    ):
        created = api.api.post(f"/{workflow}/instances", json={})
        assert created.status_code == 201, created.text
        made[workflow] = created.json()["result"]["id"]
    first = finished(api, "api-my-workflow", only_instance(api, "api-my-workflow"))
    assert first["status"] == "complete"
    assert json.loads(first["steps"][0]["output"]) == "Hello World!"  # REST: JSON text
    for workflow in ("api-sleep", "api-sleep-until"):  # "10 seconds" and now + 10 s
        wake_from_its_sleep(api, engine_clock, workflow, made[workflow])
        done = finished(api, workflow, made[workflow], timeout=120)
        assert done["status"] == "complete" and done["steps"][0]["type"] == "sleep"

    # my_failing raises on every attempt; under the default policy (5 retries from 10 s,
    # exponential: about 5 minutes, as on Cloudflare) run()'s except sees it at the end.
    # Here: the first attempt failed with the TypeError and a retry is scheduled.
    def first_attempt_failed():
        steps = api.instance("api-errors", made["api-errors"])["steps"]
        attempts = steps[0]["attempts"] if steps else []
        return attempts and attempts[0]["error"]

    assert wait_for(first_attempt_failed, 60, 0.2) == {
        "name": "TypeError",
        "message": "Intentional error in my_failing",
    }
    assert api.instance("api-errors", made["api-errors"])["status"] in {"running", "waiting"}
    stop = {"status": "terminate"}
    assert api.api.patch(f"/api-errors/instances/{made['api-errors']}/status", json=stop).is_success
    given_up = finished(api, "api-non-retryable", made["api-non-retryable"])
    assert given_up["status"] == "errored"
    assert len(given_up["steps"][0]["attempts"]) == 1
    assert given_up["error"]["message"] == "no retries for this one"
    assert finished(api, "api-config", made["api-config"])["status"] == "complete"


def test_the_wait_for_event_example_waits_then_completes_on_its_event(case) -> None:
    api = case("workers_api")
    created = api.api.post("/api-wait/instances", json={"instance_id": "waits-1"})
    assert created.status_code == 201, created.text
    wait_for(lambda: api.instance("api-wait", "waits-1")["waiting_for"], 60, 0.2)
    sent = api.api.post("/api-wait/instances/waits-1/events/my-event-type", json={"ok": 1})
    assert sent.status_code == 200, sent.text
    assert finished(api, "api-wait", "waits-1")["status"] == "complete"


def test_bindings_create_with_to_js_options_passes_the_params(case) -> None:
    create = case("bindings_create")
    assert create.worker.get("/").json() == {"status": "success"}
    done = finished(create, "workflows-starter", only_instance(create, "workflows-starter"))
    assert done["status"] == "complete" and done["params"] == {"foo": "bar"}


def test_bindings_create_batch_makes_the_three_instances(case) -> None:
    batch = case("bindings_batch")
    assert batch.worker.get("/").json() == {"status": "success"}
    for n, instance_id in enumerate(("id-abc123", "id-def456", "id-ghi789")):
        done = finished(batch, "starter-batch", instance_id)
        assert done["params"] == {"hello": f"world-{n}"}


def test_bindings_get_then_status_pause_resume_restart_terminate(case) -> None:
    get = case("bindings_get")
    created = get.api.post("/starter-get/instances", json={"instance_id": "abc-123"})
    assert created.status_code == 201, created.text
    wait_for(lambda: get.instance("starter-get", "abc-123")["waiting_for"], 60, 0.2)
    assert get.worker.get("/").json() == {"status": "success"}
    assert finished(get, "starter-get", "abc-123")["status"] == "terminated"


def test_the_bindings_pages_send_event_on_the_binding_fails_saying_the_right_call(
    case, caplog
) -> None:
    # The page calls send_event on the binding, with no instance: Cloudflare's binding
    # has no such method. The Worker fails (500) and the log names the right call.
    send = case("bindings_send_event")
    with caplog.at_level(logging.ERROR, logger="pyflow.worker"):
        response = send.worker.get("/")
    assert response.status_code == 500
    assert "worker.exception" in response.json()["errors"][0]["message"]
    logged = "\n".join(r.exc_text or "" for r in caplog.records)
    assert "InvalidBindingCall" in logged and "await env.MY_WORKFLOW.get(instance_id)" in logged


def test_a_worker_triggers_a_workflow_and_sends_it_an_event(case) -> None:
    flow = case("trigger_and_event")
    created = flow.worker.post("/?instanceId=order-7", json={"item": "book"})
    assert created.json() == {"id": "order-7"}
    wait_for(lambda: flow.worker.get("/?instanceId=order-7").json()["status"] == "waiting", 60, 0.2)
    sent = flow.worker.post("/event?instanceId=order-7", json={"by": "ops"})
    assert sent.json() == {"status": "success"}
    wait_for(
        lambda: flow.worker.get("/?instanceId=order-7").json()["status"] == "complete", 60, 0.2
    )
    assert flow.worker.get("/?instanceId=order-7").json()["output"] == {
        "payload": {"item": "book"},
        "approval": {"by": "ops"},
    }
