"""Every bad request gets a v4 envelope, a 4xx status and a stable code; never a 500.

Raw HTTP against the real gateway and engine.
"""

from __future__ import annotations

import dataclasses

import httpx
import pytest
import ray

from tests.api.conftest import ACCOUNT, OTHER_TOKEN, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The envelope of an error; returns its message (without the code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    [error] = body["errors"]
    assert isinstance(error["code"], int) and error["code"] >= 10000
    assert error["message"].startswith(code + ": "), error["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return error["message"][len(code) + 2 :]


@pytest.fixture(scope="module")
def complete_id(http) -> str:
    instance_id = new_id("done")
    http.post("/echo/instances", json={"instance_id": instance_id})
    wait_for(
        lambda: (
            http.get(f"/echo/instances/{instance_id}/status").json()["result"]["status"]
            == "complete"
        )
    )
    return instance_id


@pytest.fixture(scope="module")
def errored_id(http, tmp_path_factory) -> str:
    instance_id = new_id("err")
    ledger = str(tmp_path_factory.mktemp("err") / "ledger")
    http.post(
        "/flaky/instances",
        json={"instance_id": instance_id, "params": {"ledger": ledger, "non_retryable": True}},
    )
    wait_for(
        lambda: (
            http.get(f"/flaky/instances/{instance_id}/status").json()["result"]["status"]
            == "errored"
        )
    )
    return instance_id


@pytest.fixture(scope="module")
def http(gateway):
    from tests.api.conftest import workflows_api

    with workflows_api(gateway) as client:
        yield client


# ---------------------------------------------------------------------------
# malformed requests


def test_malformed_json_body(http):
    message = assert_error(
        http.post("/echo/instances", content=b'{"params": '), 400, "validation.invalid"
    )
    assert message.startswith("request body is not valid JSON")


def test_body_of_the_wrong_shape(http):
    assert_error(http.post("/echo/instances", json=["x"]), 400, "validation.invalid")
    assert_error(http.post("/echo/instances", json={"instance_id": 7}), 400, "validation.invalid")
    assert_error(http.post("/echo/instances", json={"id": "x"}), 400, "validation.invalid")
    assert_error(http.post("/echo/instances/batch", json={}), 400, "validation.invalid")
    assert_error(
        http.post("/echo/instances/batch", json=[{"instance_id": []}]), 400, "validation.invalid"
    )
    assert_error(
        http.patch("/echo/instances/x/status", json={"status": "stop"}), 400, "validation.invalid"
    )
    assert_error(http.patch("/echo/instances/x/status", json={}), 400, "validation.invalid")


def test_bad_query_parameters(http):
    for params in (
        {"page": 0},
        {"page": "two"},
        {"per_page": 5000},
        {"status": "sleeping"},
        {"direction": "up"},
        {"date_start": "last tuesday"},
        {"cursor": "!!!"},
    ):
        assert_error(http.get("/echo/instances", params=params), 400, "validation.invalid")
    assert_error(
        http.get("/echo/instances/x", params={"order": "sideways"}), 400, "validation.invalid"
    )


# ---------------------------------------------------------------------------
# unknown things


def test_unknown_workflow(http):
    for response in (
        http.get("/nope"),
        http.delete("/nope"),
        http.get("/nope/instances"),
        http.post("/nope/instances", json={}),
        http.post("/nope/instances/batch", json=[{}]),
        http.get("/nope/instances/x"),
    ):
        assert_error(response, 404, "workflow.not_found")


def test_unknown_instance(http):
    for response in (
        http.get("/echo/instances/missing"),
        http.get("/echo/instances/missing/status"),
        http.get("/echo/instances/missing/step", params={"name": "echo", "type": "step"}),
        http.patch("/echo/instances/missing/status", json={"status": "pause"}),
        http.post("/echo/instances/missing/events/go", json={}),
    ):
        message = assert_error(response, 404, "instance.not_found")
        assert "'missing'" in message


def test_unknown_step(http, complete_id):
    response = http.get(f"/echo/instances/{complete_id}/step", params={"name": "x", "type": "step"})
    assert_error(response, 404, "step.not_found")
    response = http.get(
        f"/echo/instances/{complete_id}/step", params={"name": "echo", "type": "step", "attempt": 9}
    )
    assert_error(response, 400, "validation.invalid")


def test_unknown_route_and_method(http, gateway):
    assert_error(httpx.get(f"{gateway}/client/v4/zones"), 404, "not_found")
    # PUT updates a workflow's settings now; PATCH is no method of a workflow.
    assert_error(http.patch("/echo", json={}), 405, "request.method_not_allowed")


# ---------------------------------------------------------------------------
# limits


def test_invalid_instance_id(http):
    message = assert_error(
        http.post("/echo/instances", json={"instance_id": "a.b"}), 400, "instance.invalid_id"
    )
    assert "use letters, digits" in message
    assert_error(
        http.post("/echo/instances", json={"instance_id": "x" * 101}), 400, "instance.invalid_id"
    )
    assert_error(
        http.post("/echo/instances/batch", json=[{"instance_id": "-x"}]), 400, "instance.invalid_id"
    )


def test_invalid_event_type(http):
    instance_id = new_id("evt")
    http.post("/waiter/instances", json={"instance_id": instance_id, "params": {"type": "go"}})
    assert_error(
        http.post(f"/waiter/instances/{instance_id}/events/bad.type", json={}),
        400,
        "workflow.invalid_event_type",
    )
    http.patch(f"/waiter/instances/{instance_id}/status", json={"status": "terminate"})


def test_oversize_params_and_payloads(http):
    big = "x" * (1 << 20)
    message = assert_error(
        http.post("/echo/instances", json={"params": big}), 413, "validation.payload_too_large"
    )
    assert "limit is 1048576 bytes" in message
    instance_id = new_id("big")
    http.post("/waiter/instances", json={"instance_id": instance_id, "params": {"type": "go"}})
    assert_error(
        http.post(f"/waiter/instances/{instance_id}/events/go", json=big),
        413,
        "validation.payload_too_large",
    )
    http.patch(f"/waiter/instances/{instance_id}/status", json={"status": "terminate"})
    huge = b'{"params": "' + b"x" * (102 << 20) + b'"}'
    assert_error(http.post("/echo/instances", content=huge), 413, "validation.payload_too_large")


def test_batch_over_the_limit(http):
    batch = [{"instance_id": new_id("b")} for _ in range(101)]
    message = assert_error(
        http.post("/echo/instances/batch", json=batch), 400, "validation.invalid"
    )
    assert "at most 100" in message


# ---------------------------------------------------------------------------
# conflicts


def test_duplicate_id(http, complete_id):
    response = http.post("/echo/instances", json={"instance_id": complete_id})
    assert_error(response, 409, "instance.already_exists")
    assert response.headers["x-should-retry"] == "false"


def test_terminating_a_complete_instance(http, complete_id):
    response = http.patch(f"/echo/instances/{complete_id}/status", json={"status": "terminate"})
    message = assert_error(response, 409, "instance.invalid_transition")
    assert "already complete" in message
    response = http.patch(f"/echo/instances/{complete_id}/status", json={"status": "pause"})
    assert_error(response, 409, "instance.invalid_transition")


def test_event_to_an_errored_instance(http, errored_id):
    response = http.post(f"/flaky/instances/{errored_id}/events/go", json={"a": 1})
    message = assert_error(response, 409, "instance.not_accepting_events")
    assert "errored" in message


def test_rollback_is_only_for_a_terminate_of_an_instance_not_final(http, complete_id):
    response = http.patch(
        f"/echo/instances/{complete_id}/status", json={"status": "pause", "rollback": True}
    )
    message = assert_error(response, 400, "validation.invalid")
    assert "only for a terminate" in message
    response = http.patch(
        f"/echo/instances/{complete_id}/status", json={"status": "terminate", "rollback": True}
    )
    assert "already complete" in assert_error(response, 409, "instance.invalid_transition")


# ---------------------------------------------------------------------------
# rate and queue limits of the real engine


@pytest.fixture
def reconfigure(engine):
    def apply(**changes):
        ray.get(engine.supervisor.configure.remote(dataclasses.replace(engine.config, **changes)))

    yield apply
    ray.get(engine.supervisor.configure.remote(engine.config))


def test_queue_limit(http, reconfigure):
    reconfigure(max_queued=0)
    response = http.post("/echo/instances", json={})
    assert_error(response, 429, "instance.queue_full")
    assert response.headers["retry-after"] == "1"


def test_creation_rate_limit(http, reconfigure):
    reconfigure(creation_rate=0.001, creation_burst=1)
    batch = [{"instance_id": new_id("rate")} for _ in range(3)]
    assert_error(
        http.post("/echo/instances/batch", json=batch), 429, "instance.creation_rate_limited"
    )
    assert_error(
        http.get(f"/echo/instances/{batch[0]['instance_id']}/status"), 404, "instance.not_found"
    )


# ---------------------------------------------------------------------------
# auth on the real gateway


def test_auth_on_the_real_gateway(gateway):
    base = f"{gateway}/client/v4/accounts/{ACCOUNT}/workflows"
    assert_error(httpx.get(f"{base}/echo"), 401, "auth.unauthorized")
    assert_error(
        httpx.get(f"{base}/echo", headers={"Authorization": "Bearer nope"}),
        401,
        "auth.unauthorized",
    )
    other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    existing = httpx.get(f"{base}/echo/instances", headers=other)
    missing = httpx.get(f"{base}/no-such-workflow/instances", headers=other)
    assert_error(existing, 403, "auth.forbidden")
    assert existing.json() == missing.json()  # nothing learned about what exists
