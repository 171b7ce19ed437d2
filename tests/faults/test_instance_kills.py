"""kill -9 instance actor processes at random moments, many times, many instances at once."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid

import pytest
import ray

from pyflow_actors.constants import DEFAULT_NAMESPACE, actor_name
from tests.conftest import wait_for
from tests.faults.conftest import FIGURES, check_ledger_steps, record_figures, wait_all_final
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240), pytest.mark.slow]

INSTANCES, STEPS, KILLS = 20, 10, 16
SCENARIO = "kill -9 of instance actors"


def _kill_one(
    engine, rng: random.Random, kills: dict[str, int], ids: set[str], workflow: str = "ledger"
) -> str | None:
    """kill -9 the process of a live instance actor, at random among the least killed."""
    live = [i for _, i in ray.get(engine.supervisor.live_instances.remote()) if i in ids]
    if not live:
        return None
    fewest = min(kills.get(i, 0) for i in live)
    victim = rng.choice([i for i in live if kills.get(i, 0) == fewest])
    try:
        pid = ray.get(engine.supervisor.actor_pid.remote(workflow, victim), timeout=10)
    except (ray.exceptions.RayError, TimeoutError):
        return None  # it died or finished meanwhile
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return None
    return victim


def test_random_kill_9_of_many_instance_actors_loses_and_repeats_nothing(engine, client, ledger):
    seed = int(os.environ.get("PYFLOW_FAULTS_SEED", "4"))
    rng = random.Random(seed)
    prefix = f"k9-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(INSTANCES)]
    params = {"ledger": ledger, "steps": STEPS, "step_seconds": 0.15}
    started = time.monotonic()
    created = client.workflow("ledger").create_batch([{"id": i, "params": params} for i in ids])
    assert sorted(c.id for c in created) == sorted(ids)
    # Let steps begin, then kill at random moments: mid-step, mid-journal-write,
    # while an actor starts, between steps.
    wait_for(lambda: len(ledger_lines(ledger)) >= INSTANCES // 2, 60)
    kills: dict[str, int] = {}
    deadline = time.monotonic() + 90
    while sum(kills.values()) < KILLS:
        assert time.monotonic() < deadline, f"only {sum(kills.values())} kills landed"
        victim = _kill_one(engine, rng, kills, set(ids))
        if victim is not None:
            kills[victim] = kills.get(victim, 0) + 1
        time.sleep(rng.uniform(0.05, 0.5))

    infos = wait_all_final(client, "ledger", ids, timeout=150)
    expected = sum(range(STEPS))
    wrong = {
        i: (s.status.value, s.output, s.error)
        for i, s in infos.items()
        if s.status.value != "complete" or s.output != expected
    }
    page = client.workflow("ledger").list(per_page=1000)
    listed = [i.id for i in page.instances if i.id.startswith(prefix)]
    record_figures(
        SCENARIO,
        instances=INSTANCES,
        steps=INSTANCES * STEPS,
        kills=sum(kills.values()),
        instances_killed=len(kills),
        lost=len(wrong),
        duplicated=len(listed) - len(set(listed)),
        seconds=round(time.monotonic() - started, 1),
    )
    assert not wrong, wrong
    totals = check_ledger_steps(client, ledger, ids, STEPS)
    record_figures(SCENARIO, **FIGURES[SCENARIO], **totals)
    # An interrupted attempt is only ever caused by one of our kills.
    assert totals["interrupted_attempts"] <= sum(kills.values())
    # No instance duplicated: one row per id, no actor left behind.
    assert sorted(listed) == sorted(ids)
    for instance_id in ids:
        with pytest.raises(ValueError):
            ray.get_actor(actor_name("ledger", instance_id), namespace=DEFAULT_NAMESPACE)


def test_events_arriving_while_instance_actors_are_killed_are_delivered_once_in_order(
    engine, client
):
    """kill -9 collector actors while events stream in: each event is consumed by exactly
    one wait, in the order it was sent (FIFO per type), none lost, none twice."""
    rng = random.Random(int(os.environ.get("PYFLOW_FAULTS_SEED", "4")) + 1)
    collectors, each, kills_wanted = 4, 25, 10
    prefix = f"ek-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{n}" for n in range(collectors)]
    for instance_id in ids:
        client.workflow("gather").create(id=instance_id, params={"n": each})
    started = time.monotonic()
    sent: list[tuple[str, int]] = []

    def send() -> None:
        handles = {i: client.workflow("gather").get(i) for i in ids}
        for k in range(each):
            for instance_id in ids:
                handles[instance_id].send_event("item", {"k": k})
                sent.append((instance_id, k))
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    kills: dict[str, int] = {}
    deadline = time.monotonic() + 90
    while sender.is_alive() or sum(kills.values()) < kills_wanted:
        assert time.monotonic() < deadline, f"only {sum(kills.values())} kills landed"
        victim = _kill_one(engine, rng, kills, set(ids), workflow="gather")
        if victim is not None:
            kills[victim] = kills.get(victim, 0) + 1
        time.sleep(rng.uniform(0.1, 0.4))
        if not sender.is_alive() and not ray.get(engine.supervisor.live_instances.remote()):
            break  # all done before enough kills: fail below, do not spin
    sender.join(60)
    infos = wait_all_final(client, "gather", ids, timeout=120)
    wrong = {
        i: s.output
        for i, s in infos.items()
        if s.status.value != "complete" or [e["k"] for e in s.output] != list(range(each))
    }
    record_figures(
        "kill -9 of instance actors while events arrive",
        instances=collectors,
        events_accepted=len(sent),
        kills=sum(kills.values()),
        instances_killed=len(kills),
        lost=len(wrong),
        seconds=round(time.monotonic() - started, 1),
    )
    assert sum(kills.values()) >= kills_wanted
    assert len(sent) == collectors * each
    assert not wrong, wrong
