"""The examples `make run` serves: their pyflow.toml loads and each workflow runs
end to end through the gateway (registered in the session's engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyflow_actors.config import load_config
from tests.api.conftest import new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def examples(engine):
    from pyflow_actors.runtime.local import start_local

    specs = load_config(EXAMPLES / "pyflow.toml").workflows
    assert [s.name for s in specs] == ["hello", "onboarding", "fanout", "trial", "trip"]
    for spec in specs:
        spec.load()  # every class_name imports
    start_local(engine.config.with_workflows(*specs)).client.close()
    return specs


def finished(http, workflow: str, instance_id: str, timeout: float = 60) -> dict:
    def done():
        result = http.get(f"/{workflow}/instances/{instance_id}").json()["result"]
        return result if result["status"] in ("complete", "errored", "terminated") else None

    return wait_for(done, timeout, 0.1)


def test_hello(http, examples):
    instance_id = new_id("hello")
    http.post("/hello/instances", json={"instance_id": instance_id, "params": {"name": "ada"}})
    result = finished(http, "hello", instance_id)
    assert result["status"] == "complete" and result["output"] == "hi, ada!"  # [vars] GREETING
    assert [s["type"] for s in result["steps"]] == ["step", "sleep"]


def test_onboarding_waits_for_approval(http, examples):
    instance_id = new_id("ada")
    http.post(
        "/onboarding/instances",
        json={"instance_id": instance_id, "params": {"email": "ada@example.com"}},
    )
    wait_for(
        lambda: (
            http.get(f"/onboarding/instances/{instance_id}/status").json()["result"]["waiting_for"]
            == ["approved"]
        ),
        60,
        0.1,
    )
    http.post(f"/onboarding/instances/{instance_id}/events/approved", json={"by": "ops"})
    result = finished(http, "onboarding", instance_id)
    assert result["output"] == {"account": "ada", "active": True, "approved_by": "ops"}
    step = result["steps"][0]
    assert step["config"]["retries"] == {"limit": 3, "delay": "1 second", "backoff": "exponential"}


def test_onboarding_refuses_a_bad_email_without_retrying(http, examples):
    instance_id = new_id("bad")
    http.post("/onboarding/instances", json={"instance_id": instance_id, "params": {"email": "x"}})
    result = finished(http, "onboarding", instance_id)
    assert result["status"] == "errored" and result["error"]["name"] == "InvalidEmail"
    assert len(result["steps"][0]["attempts"]) == 1


def test_fanout_starts_children(http, examples):
    instance_id = new_id("fan")
    http.post(
        "/fanout/instances", json={"instance_id": instance_id, "params": {"urls": ["a", "bb"]}}
    )
    result = finished(http, "fanout", instance_id)
    assert result["output"] == {"total": 3, "children": [f"{instance_id}-0", f"{instance_id}-1"]}
    for child in result["output"]["children"]:
        assert finished(http, "hello", child)["status"] == "complete"


def test_trip_cancels_its_bookings_when_the_card_is_declined(http, examples):
    instance_id = new_id("trip")
    http.post("/trip/instances", json={"instance_id": instance_id, "params": {"card": "declined"}})
    result = finished(http, "trip", instance_id)
    assert result["status"] == "errored" and result["error"]["name"] == "PaymentDeclined"
    assert result["rollback"] == {"outcome": "complete", "error": None}
    rollbacks = [s["name"] for s in result["steps"] if s["type"] == "rollback"]
    assert rollbacks == ["book hotel-1", "book flight-1"]
