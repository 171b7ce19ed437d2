"""kill -9 of shared host processes with many instances on them: nothing lost, nothing re-run.

A shared host holds many instances on one event loop; when its process dies
every instance it held must continue on another host from its journal: the
attempt in flight is retried, committed steps never run again, events sent
meanwhile are delivered once, in order.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest
import ray

from pyflow_actors.runtime.supervisor.hosts import HOST_PREFIX
from tests.conftest import SHARED, PlacedClient, is_live, wait_for
from tests.faults.conftest import FIGURES, check_ledger_steps, record_figures, wait_all_final
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

INSTANCES, STEPS, KILLS = 12, 6, 3
SCENARIO = "kill -9 of shared host processes"


def _host_pids(engine, workflow: str, ids: list[str]) -> set[int]:
    """The processes of the hosts holding any of these instances now."""
    live = {i for w, i in ray.get(engine.supervisor.live_instances.remote()) if w == workflow}
    pids = set()
    for instance_id in live & set(ids):
        try:
            pid = ray.get(engine.supervisor.actor_pid.remote(workflow, instance_id), timeout=10)
        except (ray.exceptions.RayError, TimeoutError):
            continue  # its host just died, or it finished
        if pid is not None:
            pids.add(pid)
    return pids


def _kill_hosts(engine, workflow: str, ids: list[str]) -> int:
    killed = 0
    for pid in _host_pids(engine, workflow, ids):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def test_kill_9_of_hosts_loses_no_instance_and_reruns_no_committed_step(engine, ledger):
    client = PlacedClient(engine.client, "shared")
    workflow = "ledger" + SHARED
    prefix = f"hk-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(INSTANCES)]
    params = {"ledger": ledger, "steps": STEPS, "step_seconds": 0.2}
    started = time.monotonic()
    client.workflow("ledger").create_batch([{"id": i, "params": params} for i in ids])
    kills, progress = 0, INSTANCES
    deadline = time.monotonic() + 90
    while kills < KILLS:
        assert time.monotonic() < deadline, f"only {kills} kills landed"
        wait_for(lambda p=progress: len(ledger_lines(ledger)) >= p, 60)  # steps under way
        kills += _kill_hosts(engine, workflow, ids)
        progress = len(ledger_lines(ledger)) + INSTANCES
    infos = wait_all_final(client, "ledger", ids, timeout=150)
    expected = sum(range(STEPS))
    wrong = {
        i: (s.status.value, s.output, s.error)
        for i, s in infos.items()
        if s.status.value != "complete" or s.output != expected
    }
    record_figures(
        SCENARIO,
        instances=INSTANCES,
        steps=INSTANCES * STEPS,
        kills=kills,
        lost=len(wrong),
        seconds=round(time.monotonic() - started, 1),
    )
    assert not wrong, wrong
    totals = check_ledger_steps(client, ledger, ids, STEPS)
    record_figures(SCENARIO, **FIGURES[SCENARIO], **totals)
    # Each kill interrupts at most the attempt in flight of each instance on the host.
    assert totals["interrupted_attempts"] <= kills * INSTANCES
    page = client.workflow("ledger").list(per_page=1000)
    listed = [i.id for i in page.instances if i.id.startswith(prefix)]
    assert sorted(listed) == sorted(ids)  # one row each, none doubled
    wait_for(lambda: not any(is_live(workflow, i) for i in ids), 20)  # all evicted


def test_events_sent_while_hosts_are_killed_are_delivered_once_in_order(engine):
    client = PlacedClient(engine.client, "shared")
    workflow = "gather" + SHARED
    collectors, each = 4, 20
    prefix = f"hke-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(collectors)]
    for instance_id in ids:
        client.workflow("gather").create(id=instance_id, params={"n": each})

    def send() -> None:
        handles = {i: client.workflow("gather").get(i) for i in ids}
        for k in range(each):
            for instance_id in ids:
                handles[instance_id].send_event("item", {"k": k})
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    kills = 0
    while sender.is_alive():
        time.sleep(0.4)
        kills += _kill_hosts(engine, workflow, ids)
    sender.join(60)
    infos = wait_all_final(client, "gather", ids, timeout=120)
    wrong = {
        i: s.output
        for i, s in infos.items()
        if s.status.value != "complete" or [e["k"] for e in s.output] != list(range(each))
    }
    record_figures(
        "kill -9 of shared hosts while events arrive",
        instances=collectors,
        events_accepted=collectors * each,
        kills=kills,
        lost=len(wrong),
    )
    assert kills >= 1
    assert not wrong, wrong


def test_no_host_is_left_holding_an_instance_that_is_not_live(engine):
    """After the kills, the hosts hold only instances the supervisor runs (none leaked)."""

    def leaked() -> set[tuple[str, str]]:
        held = set()
        for named in ray.util.list_named_actors(all_namespaces=True):
            if named["name"].startswith(HOST_PREFIX):
                try:
                    host = ray.get_actor(named["name"], namespace=named["namespace"])
                    held |= {tuple(k) for k in ray.get(host.keys.remote(), timeout=10)}
                except (ValueError, ray.exceptions.RayActorError):
                    continue  # a host killed a moment ago, its name not yet released

        live = {tuple(k) for k in ray.get(engine.supervisor.live_instances.remote())}
        return held - live

    wait_for(lambda: not leaked(), 20)
