"""Shared pre-activation on a real Ray: a hibernated shared instance whose alarm is
near is taken back by a host before it, and wakes there on its own timer."""

from __future__ import annotations

import time
import uuid

import pytest
import ray

from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX
from tests.conftest import SHARED, is_live, wait_for
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

WORKFLOW = "ledger" + SHARED
SLEEP = 8.0  # long enough to hibernate (hibernate_after is 1 s) before it is taken back


def pinned_on_hosts(key: tuple[str, str]) -> list[str]:
    """The hosts holding the instance pinned live until its alarm."""
    hosts = []
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith(HOST_PREFIX):
            host = ray.get_actor(named["name"], namespace=named["namespace"])
            if key in [tuple(k) for k in ray.get(host.pinned.remote(), timeout=30)]:
                hosts.append(named["name"])
    return hosts


def test_a_shared_instance_is_live_in_its_host_before_its_alarm_and_wakes_with_no_run_call(
    engine, ledger
):
    instance_id = f"pre-{uuid.uuid4().hex[:8]}"
    before = engine.stats()
    params = {"ledger": ledger, "steps": 2, "step_seconds": 0, "sleep": SLEEP}
    instance = engine.client.workflow(WORKFLOW).create(id=instance_id, params=params)
    # Asleep and let go by its host (hibernated), its alarm the supervisor's.
    wait_for(
        lambda: instance.status().status.value == "waiting" and not is_live(WORKFLOW, instance_id),
        30,
        0.1,
    )
    wake_at = instance.status().wake_at
    assert wake_at is not None
    # Taken back before its alarm: a host holds it, pinned, and it still shows waiting.
    wait_for(lambda: pinned_on_hosts((WORKFLOW, instance_id)), SLEEP + 30, 0.1)
    assert time.time() < wake_at
    assert instance.status().status.value == "waiting"
    # It woke in its host: the pre-activation's run, not a second one sent at the alarm.
    assert instance.wait(60).status.value == "complete"
    after = engine.stats()
    assert after["shared_preactivated_made"] - before["shared_preactivated_made"] >= 1
    assert after["shared_preactivated_woke"] - before["shared_preactivated_woke"] >= 1
    assert ledger_lines(ledger) == [f"{instance_id} step-0", f"{instance_id} step-1"]
    described = {step.name: step for step in instance.describe().steps}
    assert described["step-1"].start >= wake_at  # it slept its whole sleep
