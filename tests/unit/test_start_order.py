"""An instance resumed by its event runs before a newer one admitted after it.

The concurrency harness (benchmarks/pyflow_bench.py) saw new instances run
their first step before an instance resumed earlier ran its next one: the
resumed one's actor had hibernated and started cold (seconds under load),
the new one's had been started ahead (warm) and ran at once. Driven through
the real supervisor with fake actors (tests/unit/fake_actors.py), no Ray:
the resumed instance's actor start is held, as a cold start on a loaded
machine is.
"""

from __future__ import annotations

import asyncio

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor import start_order

from .fake_actors import FakeActor, FakeBackend
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(20)

SETTLE = 0.3  # seconds in which a start that is not held makes its run call


def ran(made: FakeActor) -> bool:
    return any(call.startswith("run:") for call in made.calls)


async def resumed_behind_two_blockers(tmp_path, backend: FakeBackend):  # type: ignore[no-untyped-def]
    """Two slots, both taken; a waiter woken by its event (queued first, its actor
    start held: cold) and a newer instance with its actor warm behind it."""
    sup = await started(tmp_path, backend, max_running=2, warm_actors=4)
    await create(sup, "waiter")
    (await actor(backend, "waiter")).hibernate(waiting_for=["go"])
    await until(lambda: status(sup, "waiter") == InstanceStatus.WAITING)
    await create(sup, "blocker-1", "blocker-2")
    blockers = [await actor(backend, "blocker-1"), await actor(backend, "blocker-2")]
    await create(sup, "newer")
    newer = await actor(backend, "newer")  # warmed: the head of the line
    assert newer.calls == ["prepare"]
    backend.gate.clear()  # every actor start from now on is slow (cold, under load)
    await sup.send_event(WF, "waiter", "go", {})
    assert status(sup, "waiter") == InstanceStatus.QUEUED
    for blocker in blockers:  # two slots free: the waiter is admitted, then the newer one
        blocker.finish()
    await until(lambda: status(sup, "newer") == InstanceStatus.RUNNING)
    assert status(sup, "waiter") == InstanceStatus.RUNNING
    return sup, newer


def test_a_newer_instance_with_a_warm_actor_waits_for_the_resumed_ones_cold_start(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup, newer = await resumed_behind_two_blockers(tmp_path, backend)
        await asyncio.sleep(SETTLE)
        assert not ran(newer), "the newer instance ran while the resumed one was starting"
        # Held, its warm actor is its handle: describe asks it (it holds the journal).
        described = asyncio.ensure_future(sup.describe(WF, "newer"))
        await until(lambda: newer.describing == 1)
        newer.open()
        await described
        backend.gate.set()  # the resumed instance's actor comes up
        woken = await actor(backend, "waiter", 2)
        await until(lambda: sorted(woken.calls) == ["prepare", "run:1"])
        await asyncio.sleep(SETTLE)
        assert not ran(newer), "the newer instance ran before the resumed one had its event"
        woken.open()  # its run opened the journal: the event is delivered
        await until(lambda: ran(newer))
        assert [e.type for e in woken.delivered] == ["go"]
        assert sup.order.held == 1

    run(scenario)


def test_a_held_instance_stopped_while_held_lets_its_warm_actor_go(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup, newer = await resumed_behind_two_blockers(tmp_path, backend)
        await sup.control(WF, "newer", "terminate")
        await until(lambda: newer.killed)
        assert not ran(newer) and status(sup, "newer") == InstanceStatus.TERMINATED

    run(scenario)


def test_a_held_start_goes_on_when_the_resumed_instance_dies_starting(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        _, newer = await resumed_behind_two_blockers(tmp_path, backend)
        backend.gate.set()
        woken = await actor(backend, "waiter", 2)
        woken.die()  # before its journal opened: the event was never taken
        await until(lambda: ran(newer), timeout=2.0)

    run(scenario)


def test_a_held_start_goes_on_after_the_hold_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(start_order, "HOLD_LIMIT", 0.5)

    async def scenario() -> None:
        backend = FakeBackend()
        _, newer = await resumed_behind_two_blockers(tmp_path, backend)
        await asyncio.sleep(0.2)
        assert not ran(newer)
        await until(lambda: ran(newer), timeout=2.0)  # the resumed one never came up

    run(scenario)


def test_new_instances_are_not_held_behind_each_other(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=2, warm_actors=0)
        await create(sup, "a", "b")
        first, second = await actor(backend, "a"), await actor(backend, "b")
        assert ran(first) and ran(second) and sup.order.held == 0

    run(scenario)


def test_describe_asks_a_resumed_instances_actor_while_it_prepares(tmp_path, monkeypatch):
    # Its journal is being opened by that actor: not free to read beside it (a read
    # of the file waited for the lock, then failed with a 500).
    preparing = asyncio.Event()
    real_prepare = FakeActor.prepare

    async def slow_prepare(self: FakeActor) -> None:
        await real_prepare(self)
        await preparing.wait()

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, warm_actors=0)
        await create(sup, "x")
        (await actor(backend, "x")).hibernate(waiting_for=["go"])
        await until(lambda: status(sup, "x") == InstanceStatus.WAITING)
        monkeypatch.setattr(FakeActor, "prepare", slow_prepare)
        await sup.send_event(WF, "x", "go", {})
        woken = await actor(backend, "x", 2)
        await until(lambda: sorted(woken.calls) == ["prepare", "run:1"])
        described = asyncio.ensure_future(sup.describe(WF, "x"))
        await until(lambda: woken.describing == 1)
        preparing.set()
        woken.open()
        await described
        await until(lambda: ran(woken))

    run(scenario)
