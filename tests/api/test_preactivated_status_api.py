"""Pre-activated shared instances through the real gateway: while their hosts hold
them until their alarm they are `waiting` in the REST status, in the list
filtered by status and in `/metrics`; from their alarm, `running` in all three."""

from __future__ import annotations

import time

import httpx
import pytest
import ray
from prometheus_client.parser import text_string_to_metric_families

from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX
from tests.api.conftest import TOKEN, new_id
from tests.conftest import SHARED, is_live, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

WORKFLOW = "ledger" + SHARED
SLEEP = 8.0  # hibernates (hibernate_after is 1 s), then is taken back ~2 s before its alarm
STEP = 2.0  # seconds its second step runs after the alarm (seen running meanwhile)


def pinned_keys() -> set[tuple[str, str]]:
    """The instances the hosts hold pinned until their alarm."""
    keys: set[tuple[str, str]] = set()
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith(HOST_PREFIX):
            host = ray.get_actor(named["name"], namespace=named["namespace"])
            keys |= {(k[0], k[1]) for k in ray.get(host.pinned.remote(), timeout=30)}
    return keys


def listed(http: httpx.Client, status: str) -> set[str]:
    answer = http.get(f"/{WORKFLOW}/instances", params={"status": status, "per_page": 1000})
    assert answer.status_code == 200, answer.text
    return {item["id"] for item in answer.json()["result"]}


def metric(gateway: str, status: str) -> float:
    """``pyflow_instances{workflow=WORKFLOW,status=status}`` (0 when not reported)."""
    text = httpx.get(f"{gateway}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pyflow_instances" and sample.labels == {
                "workflow": WORKFLOW,
                "status": status,
            }:
                return sample.value
    return 0.0


def test_held_instances_are_waiting_in_status_list_and_metrics_then_running(
    engine, gateway, http, ledger
):
    ids = [new_id("held") for _ in range(3)]
    params = {"ledger": ledger, "steps": 2, "step_seconds": STEP, "sleep": SLEEP}
    for instance_id in ids:
        created = http.post(
            f"/{WORKFLOW}/instances", json={"instance_id": instance_id, "params": params}
        )
        assert created.status_code == 201, created.text

    def status(instance_id: str) -> str:
        return str(http.get(f"/{WORKFLOW}/instances/{instance_id}").json()["result"]["status"])

    wait_for(  # asleep and hibernated (no host holds them)
        lambda: all(status(i) == "waiting" and not is_live(WORKFLOW, i) for i in ids), 60, 0.2
    )
    wake_at = min(engine.client.workflow(WORKFLOW).get(i).status().wake_at or 0 for i in ids)
    wait_for(lambda: {(WORKFLOW, i) for i in ids} <= pinned_keys(), SLEEP + 30, 0.1)
    # Held by their hosts (their rows say running): waiting wherever they are seen.
    statuses = [status(i) for i in ids]
    waiting, running = listed(http, "waiting"), listed(http, "running")
    counted = metric(gateway, "waiting"), metric(gateway, "running")
    assert time.time() < wake_at, "looked at after the alarm: the machine is too slow"
    assert statuses == ["waiting"] * len(ids)
    assert set(ids) <= waiting and not set(ids) & running
    assert counted[0] >= len(ids) and counted[1] == 0
    # From their alarm they run their second step (2 s) in their host: running everywhere.
    wait_for(
        lambda: (
            set(ids) <= listed(http, "running")
            and all(status(i) == "running" for i in ids)
            and metric(gateway, "running") >= len(ids)
        ),
        STEP + SLEEP,
        0.05,
    )
    wait_for(lambda: all(status(i) == "complete" for i in ids), 60, 0.2)
    assert metric(gateway, "running") == 0
