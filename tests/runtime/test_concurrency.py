"""The concurrency limit: only running instances hold slots; resuming ones go first."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import ray

from tests.conftest import wait_for
from tests.workflows import ledger_lines

pytestmark = pytest.mark.ray


@pytest.fixture
def limit_two(engine):
    config = dataclasses.replace(engine.config, max_running=2)
    ray.get(engine.supervisor.configure.remote(config))
    yield engine
    ray.get(engine.supervisor.configure.remote(engine.config))


def intervals(ledger: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for line in ledger_lines(ledger):
        instance_id, what, at = line.split()
        (starts if what == "start" else ends)[instance_id] = float(at)
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def max_overlap(spans: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = current = 0
    for _, delta in points:
        current += delta
        best = max(best, current)
    return best


def test_running_instances_never_exceed_the_limit(limit_two, ledger):
    client = limit_two.client
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(limit_two.stats()["live_actors"])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        instances = client.workflow("timed").create_batch(
            [
                {"id": f"lim-{i}-{time.time_ns()}", "params": {"ledger": ledger, "seconds": 0.6}}
                for i in range(5)
            ]
        )
        statuses = [i.status().status.value for i in instances]
        assert statuses.count("running") <= 2 and "queued" in statuses
        for instance in instances:
            assert instance.wait(60).status.value == "complete"
    finally:
        stop.set()
        sampler.join()
    assert max(samples) <= 2
    spans = intervals(ledger)
    assert len(spans) == 5 and max_overlap(list(spans.values())) <= 2


def test_waiting_instances_do_not_hold_slots(limit_two):
    client = limit_two.client
    waiters = [client.workflow("waiter").create(params={"type": "never"}) for _ in range(2)]
    wait_for(lambda: all(w.status().status.value == "waiting" for w in waiters), 20)
    echo = client.workflow("echo").create(params="passes")
    assert echo.wait(30).output["echo"] == "passes"
    for waiter in waiters:
        waiter.terminate()


@pytest.fixture
def limit_one(engine):
    config = dataclasses.replace(engine.config, max_running=1)
    ray.get(engine.supervisor.configure.remote(config))
    yield engine
    ray.get(engine.supervisor.configure.remote(engine.config))


def test_resuming_instance_starts_before_newer_queued_ones(limit_one, ledger):
    # One slot, so that one slot frees at a time. With two blockers ending a few
    # ms apart (this test's earlier form), the resumer and the oldest newer one
    # were both admitted, in the right order, and then raced to their first
    # line through two actor starts: under load the newer one's sometimes won.
    # That measured process start-up, not the scheduler: the intermittent failure.
    client = limit_one.client
    timed = client.workflow("timed")
    stamp = time.time_ns()
    resumer = timed.create(
        id=f"resumer-{stamp}", params={"ledger": ledger, "sleep": 2, "seconds": 0.2}
    )
    wait_for(lambda: resumer.status().status.value == "waiting", 20)
    # Take the slot past the resumer's alarm, then queue newer instances.
    blocker = timed.create(id=f"blocker-{stamp}", params={"ledger": ledger, "seconds": 3.0})
    wait_for(lambda: blocker.status().status.value == "running", 20)
    newer = [
        timed.create(id=f"newer-{i}-{stamp}", params={"ledger": ledger, "seconds": 0.2})
        for i in range(3)
    ]
    for instance in (resumer, blocker, *newer):
        assert instance.wait(60).status.value == "complete"
    spans = intervals(ledger)
    assert spans[blocker.id][1] < spans[resumer.id][0]  # it did wait for the slot
    resumed_at = spans[resumer.id][0]
    assert all(resumed_at < spans[n.id][0] for n in newer)
