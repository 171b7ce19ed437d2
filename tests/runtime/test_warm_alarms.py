"""Alarms of hibernated dedicated instances find their actors started ahead (warm).

The sleepers sleep 20 s on the engine's clock. Once all have hibernated, the
clock (``engine_clock``) moves on one second at a time until the pool starts
the first of their actors: what is skipped is only the idle part of the
sleep, before the pool's own lead (longer under load); from then on time
passes as it would have, and the alarms must find their actors warm."""

from __future__ import annotations

import uuid

import pytest

from pyflow_actors.models import InstanceStatus
from tests.conftest import is_live, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

STEP = 1.0  # seconds the clock moves per look: well within the pool's lead margin


def test_sleepers_due_together_wake_on_actors_started_ahead_of_their_alarm(
    engine, ledger, engine_clock
):
    before = engine.stats()["warm_admitted"]
    workflow = engine.client.workflow("ledger")
    # 20 s: longer than hibernate_after (1 s), so each hibernates after its first step.
    params = {"ledger": ledger, "steps": 2, "step_seconds": 0.01, "sleep": 20}
    batch = [{"id": f"wa-{uuid.uuid4().hex[:8]}", "params": params} for _ in range(3)]
    instances = workflow.create_batch(batch)

    def live() -> bool:
        return any(is_live("ledger", i.id) for i in instances)

    def hibernated() -> list[float]:
        infos = [i.status() for i in instances]
        if any(s.status != InstanceStatus.WAITING or s.wake_at is None for s in infos):
            return []
        return [s.wake_at for s in infos if s.wake_at is not None and not live()]

    first_wake = min(wait_for(hibernated, timeout=60, interval=0.2))

    def warming() -> bool:  # the clock moves on until the pool starts one of them
        if live() or engine_clock.now() + STEP >= first_wake:
            return True
        engine_clock.advance_to(engine_clock.now() + STEP)
        return False

    wait_for(warming, timeout=60, interval=0)
    wait_for(
        lambda: all(i.status().status == InstanceStatus.COMPLETE for i in instances),
        timeout=120,
        interval=0.2,
    )
    # Each wake took the actor the pool started while the instance was asleep.
    assert engine.stats()["warm_admitted"] - before >= len(instances)
    assert [i.status().output for i in instances] == [1, 1, 1]
