"""kill -9 of the host holding shared instances pre-activated ahead of their alarm.

A pre-activated instance waits live in its host for its alarm (the supervisor's
run of it is in flight, its row says running): when that host dies, every such
instance is rehydrated on another host from its journal and wakes there, on
time or as soon as recovered; no committed step runs again.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import ray

from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX
from tests.conftest import SHARED, PlacedClient, is_live, wait_for
from tests.faults.conftest import FIGURES, check_ledger_steps, record_figures, wait_all_final

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

INSTANCES, STEPS, SLEEP = 12, 2, 10.0
WORKFLOW = "ledger" + SHARED
SCENARIO = "kill -9 of hosts holding pre-activated instances"


def pinned_hosts(ids: list[str]) -> dict[int, set[str]]:
    """The processes of the hosts holding any of these instances pinned: pid -> ids."""
    found: dict[int, set[str]] = {}
    for named in ray.util.list_named_actors(all_namespaces=True):
        if not named["name"].startswith(HOST_PREFIX):
            continue
        try:
            host = ray.get_actor(named["name"], namespace=named["namespace"])
            pinned = {k[1] for k in ray.get(host.pinned.remote(), timeout=10) if k[0] == WORKFLOW}
            pid = ray.get(host.load.remote(), timeout=10).pid
        except (ray.exceptions.RayError, ValueError, TimeoutError):
            continue  # a host stopping now
        if pinned & set(ids):
            found[pid] = pinned & set(ids)
    return found


def test_kill_9_of_hosts_holding_pre_activated_instances_loses_and_reruns_nothing(engine, ledger):
    client = PlacedClient(engine.client, "shared")
    prefix = f"pk-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(INSTANCES)]
    params = {"ledger": ledger, "steps": STEPS, "step_seconds": 0, "sleep": SLEEP}
    started = time.monotonic()
    client.workflow("ledger").create_batch([{"id": i, "params": params} for i in ids])
    handles = [client.workflow("ledger").get(i) for i in ids]
    wait_for(  # all asleep, hibernated: no host holds them
        lambda: (
            all(h.status().status.value == "waiting" for h in handles)
            and not any(is_live(WORKFLOW, i) for i in ids)
        ),
        60,
        0.2,
    )
    last_wake = max(h.status().wake_at or 0.0 for h in handles)
    # Taken back ahead of their alarm (all due within a second): kill their hosts then.
    held = wait_for(lambda: (h := pinned_hosts(ids)) and sum(map(len, h.values())) >= 6 and h)
    killed = 0
    for pid in held:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    killed_before_alarm = time.time() < last_wake  # some still waited pinned for it
    infos = wait_all_final(client, "ledger", ids, timeout=150)
    wrong = {i: (s.status.value, s.error) for i, s in infos.items() if s.status.value != "complete"}
    record_figures(
        SCENARIO,
        instances=INSTANCES,
        pinned_at_kill=sum(map(len, held.values())),
        kills=killed,
        lost=len(wrong),
        seconds=round(time.monotonic() - started, 1),
    )
    assert killed >= 1 and killed_before_alarm
    assert not wrong, wrong
    totals = check_ledger_steps(client, ledger, ids, STEPS)
    record_figures(SCENARIO, **FIGURES[SCENARIO], **totals)
    assert totals["interrupted_attempts"] == 0  # they were asleep: no attempt in flight
    for handle in handles:  # every one slept its whole sleep, before its second step
        steps = {s.name: s for s in handle.describe().steps}
        assert steps["step-1"].start >= steps["nap"].end - 0.001
