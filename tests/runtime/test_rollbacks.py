"""Rollbacks on a real Ray, in both placements: a failed instance rolls back through
rollingBack to errored; a terminate with rollback (live or hibernated) undoes the
finished steps and ends terminated; a plain terminate undoes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pyflow_actors.models import InstanceStatus
from tests.conftest import is_live, wait_for
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def undone(ledger: str, instance_id: str) -> list[str]:
    prefix = f"{instance_id} undo "
    return [line[len(prefix) :] for line in ledger_lines(ledger) if line.startswith(prefix)]


def test_a_failed_instance_rolls_back_its_steps_then_ends_errored(placed_client, ledger, tmp_path):
    gate = tmp_path / "gate"
    instance = placed_client.workflow("saga").create(
        id=uid("fail"), params={"ledger": ledger, "fail": True, "gate": str(gate)}
    )
    # The hotel's handler waits on the gate: the instance is rolling back meanwhile.
    wait_for(lambda: f"{instance.id} undoing hotel" in ledger_lines(ledger), 60)
    wait_for(lambda: instance.status().status == InstanceStatus.ROLLING_BACK, 30)
    assert undone(ledger, instance.id) == ["car car-ok ValueError"]
    Path(gate).touch()

    final = instance.wait(60)

    assert final.status == InstanceStatus.ERRORED
    assert final.error is not None and final.error.message == "payment declined"
    assert undone(ledger, instance.id) == [
        "car car-ok ValueError",
        "hotel hotel-ok ValueError",
        "flight flight-ok ValueError",
    ]
    detail = instance.describe()
    assert detail.rollback is not None and detail.rollback.outcome == "complete"
    rollbacks = [s for s in detail.steps if s.type == "rollback"]
    assert [s.name for s in rollbacks] == ["car-1", "hotel-1", "flight-1"]
    assert all(s.success for s in rollbacks)


@pytest.mark.parametrize("where", ["live", "hibernated"])
def test_terminate_with_rollback_undoes_finished_steps_then_ends_terminated(
    placed_client, ledger, where
):
    instance = placed_client.workflow("saga").create(
        id=uid(f"term-{where}"), params={"ledger": ledger, "wait_for": "never-sent"}
    )
    wait_for(lambda: f"{instance.id} do car" in ledger_lines(ledger), 60)
    if where == "hibernated":
        wait_for(lambda: not is_live(instance.workflow, instance.id), 60)

    instance.terminate(rollback=True)

    status = instance.status().status
    assert status in (InstanceStatus.ROLLING_BACK, InstanceStatus.TERMINATED)
    final = instance.wait(60)
    assert final.status == InstanceStatus.TERMINATED
    assert undone(ledger, instance.id) == [
        "car car-ok Terminated",
        "hotel hotel-ok Terminated",
        "flight flight-ok Terminated",
    ]
    assert ledger_lines(ledger).count(f"{instance.id} do flight") == 1  # replay ran no step
    detail = instance.describe()
    assert detail.rollback is not None and detail.rollback.outcome == "complete"
    assert [s.name for s in detail.steps if s.type == "rollback"] == [
        "car-1",
        "hotel-1",
        "flight-1",
    ]


def test_a_plain_terminate_rolls_nothing_back(placed_client, ledger):
    instance = placed_client.workflow("saga").create(
        id=uid("plain"), params={"ledger": ledger, "wait_for": "never-sent"}
    )
    wait_for(lambda: f"{instance.id} do car" in ledger_lines(ledger), 60)

    instance.terminate()

    assert instance.wait(30).status == InstanceStatus.TERMINATED
    assert undone(ledger, instance.id) == []
    detail = instance.describe()
    assert detail.rollback is None
    assert [s for s in detail.steps if s.type == "rollback"] == []
