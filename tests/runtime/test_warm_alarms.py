"""Alarms of hibernated dedicated instances find their actors started ahead (warm)."""

from __future__ import annotations

import uuid

import pytest

from pyflow_actors.models import InstanceStatus
from tests.conftest import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


def test_sleepers_due_together_wake_on_actors_started_ahead_of_their_alarm(engine, ledger):
    before = engine.stats()["warm_admitted"]
    workflow = engine.client.workflow("ledger")
    # 20 s: longer than hibernate_after (1 s), so each hibernates after its first step.
    params = {"ledger": ledger, "steps": 2, "step_seconds": 0.01, "sleep": 20}
    batch = [{"id": f"wa-{uuid.uuid4().hex[:8]}", "params": params} for _ in range(3)]
    instances = workflow.create_batch(batch)
    wait_for(
        lambda: all(i.status().status == InstanceStatus.COMPLETE for i in instances),
        timeout=150,
        interval=0.2,
    )
    # Each wake took the actor the pool started while the instance was asleep.
    assert engine.stats()["warm_admitted"] - before >= len(instances)
    assert [i.status().output for i in instances] == [1, 1, 1]
