"""Placement on a real Ray: shared instances share host processes; the host watches its loop."""

from __future__ import annotations

import uuid

import pytest
import ray

from pyflow_actors.models import Placement
from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX
from tests.conftest import SHARED, wait_for
from tests.workflows import ledger_lines

pytestmark = pytest.mark.ray


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pid_of(engine, workflow: str, instance_id: str) -> int:
    return ray.get(engine.supervisor.actor_pid.remote(workflow, instance_id), timeout=30)


def host_loads(engine) -> list:
    loads = []
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith(HOST_PREFIX):
            host = ray.get_actor(named["name"], namespace=named["namespace"])
            loads.append(ray.get(host.load.remote(), timeout=30))
    return loads


def test_shared_instances_share_the_pools_host_processes_and_dedicated_ones_each_have_one(
    engine, ledger
):
    params = {"ledger": ledger, "steps": 2, "step_seconds": 2.0}
    shared = [
        engine.client.workflow("ledger" + SHARED).create(id=uid("sh"), params=params)
        for _ in range(4)
    ]
    dedicated = [
        engine.client.workflow("ledger").create(id=uid("de"), params=params) for _ in range(2)
    ]
    everyone = shared + dedicated
    wait_for(lambda: all(f"{i.id} step-0" in ledger_lines(ledger) for i in everyone), 60)
    shared_pids = {pid_of(engine, i.workflow, i.id) for i in shared}
    dedicated_pids = [pid_of(engine, i.workflow, i.id) for i in dedicated]
    assert len(shared_pids) <= 2  # the pool's hosts (two on a cluster of 2+ CPUs) hold them
    assert len(set(dedicated_pids)) == 2 and not shared_pids & set(dedicated_pids)
    held = sum(load.instances for load in host_loads(engine) if load.pid in shared_pids)
    assert held >= 4
    for instance in everyone:
        assert instance.wait(60).output == 1
    assert shared[0].describe().placement == Placement.SHARED
    assert dedicated[0].describe().placement == Placement.DEDICATED


def test_a_host_names_the_instance_whose_step_blocked_its_loop(engine):
    hog = engine.client.workflow("blocker" + SHARED).create(id=uid("hog"), params={"seconds": 1.0})
    assert hog.wait(60).output == "slept"

    def culprit_reported() -> bool:
        stalls = [s for load in host_loads(engine) for s in load.stalls]
        return any(s.instance == ("blocker" + SHARED, hog.id) and s.seconds >= 0.5 for s in stalls)

    wait_for(culprit_reported, 10)
