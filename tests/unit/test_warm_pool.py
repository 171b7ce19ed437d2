"""The warm pool's hysteresis: an actor started ahead of need is let go only when it
is truly not needed, and never made again and again for the same instance.

Under load the same warm actor was seen made and killed every ~0.5 s: a queued
instance woken by an alarm more than a minute late was warmed with its alarm's
time as its due time, let go at the next round as "a minute past due", and
warmed again by the round after. Driven through the real supervisor with fake
actors (tests/unit/fake_actors.py), no Ray.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor import warm as warm_module

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(20)

WARM_ROUNDS = 1.0  # seconds: five rounds of the warm loop (every 0.2 s)


def test_a_queued_instance_woken_long_after_its_alarm_keeps_one_warm_actor(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1, warm_actors=4)
        await create(sup, "late", "other")
        late = await actor(backend, "late")
        # Its alarm passed two minutes ago: it is queued at once, behind "other",
        # which takes the only slot.
        late.hibernate(wake_at=time.time() - 120)
        other = await until(lambda: backend.alive((WF, "other")))
        await until(lambda: other.calls and other.calls[-1].startswith("run:"))
        await until(lambda: len(backend.actors_of((WF, "late"))) == 2)
        assert status(sup, "late") == InstanceStatus.QUEUED
        await asyncio.sleep(WARM_ROUNDS)
        made = backend.actors_of((WF, "late"))
        assert len(made) == 2, f"{len(made) - 1} warm actors made for one queued instance"
        assert not made[1].killed and sup.warm.let_go == 0
        other.finish()
        await until(lambda: any(c.startswith("run:") for c in made[1].calls))
        assert sup.warm.admitted == 1 and len(backend.actors_of((WF, "late"))) == 2

    run(scenario)


def test_a_warm_actor_no_longer_wanted_is_let_go_after_the_grace_not_before(tmp_path, monkeypatch):
    monkeypatch.setattr(warm_module, "IDLE_GRACE", 0.6)

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=8, warm_actors=4)
        await create(sup, "s")
        (await actor(backend, "s")).hibernate(wake_at=time.time() + 30)
        sup.warm.max_lead = 60.0
        sup.warm.activation_seconds = 20.0  # so that it is wanted at once
        warm = await actor(backend, "s", 2)
        assert warm.calls == ["prepare"]
        sup.warm.activation_seconds = 0.5  # now its alarm is too far off to want it
        sup.warm.max_lead = 10.0
        await asyncio.sleep(0.3)  # rounds inside the grace: kept
        assert not warm.killed and sup.warm.let_go == 0
        await until(lambda: warm.killed)  # past the grace: let go
        assert sup.warm.let_go == 1 and status(sup, "s") == InstanceStatus.WAITING
        await asyncio.sleep(WARM_ROUNDS)
        assert len(backend.actors_of((WF, "s"))) == 2  # and not made again

    run(scenario)


def test_warm_actors_of_a_burst_of_woken_alarms_are_kept_while_they_wait_in_line(
    tmp_path, monkeypatch
):
    # More woken instances than the next few in line (the machine's parallelism)
    # and than the free slots: each keeps its warm actor until a slot frees.
    monkeypatch.setattr(warm_module, "IDLE_GRACE", 0.3)

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend, max_running=1, warm_actors=8)
        sup.warm.parallelism = 1  # the next one in line only
        sleepers = ["s1", "s2", "s3"]
        await create(sup, *sleepers, "busy")
        due = time.time() + 0.8
        for instance_id in sleepers:
            (await actor(backend, instance_id)).hibernate(wake_at=due)
        busy = await actor(backend, "busy")
        sup.warm.max_lead, sup.warm.activation_seconds = 60.0, 20.0  # all wanted at once
        warm = [await actor(backend, i, 2) for i in sleepers]
        await until(lambda: all(status(sup, i) == InstanceStatus.QUEUED for i in sleepers))
        await asyncio.sleep(WARM_ROUNDS)  # past the grace, queued behind "busy"
        assert sup.warm.let_go == 0 and not any(w.killed for w in warm)
        busy.finish()
        for w in warm:
            await until(lambda w=w: any(c.startswith("run:") for c in w.calls))
            w.finish()
        assert sup.warm.admitted == 3 and len(backend.created) == 7

    run(scenario)
