"""Finished instances are folded into the history store: the journal file goes, the
history stays readable (describe, steps, restart from a step), on both placements."""

from __future__ import annotations

import uuid

import pytest

from pyflow_actors.storage.history import history_store
from pyflow_actors.storage.journal import journal_path
from tests.conftest import wait_for
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture
def client(placed_client):
    return placed_client


def test_a_finished_instance_keeps_its_steps_without_its_journal_file(
    client, ledger, engine_storage
):
    instance = client.workflow("ledger").create(
        id=f"h-{uuid.uuid4().hex[:10]}", params={"ledger": ledger, "steps": 3}
    )
    assert instance.wait(60).output == 3
    path = journal_path(engine_storage, instance.workflow, instance.id)
    before = instance.describe()
    wait_for(lambda: not path.exists(), 30)
    assert not path.with_name(path.name + ".starts").exists()
    with history_store(engine_storage, read_only=True).session() as session:
        assert session.view(instance.workflow, instance.id) is not None

    after = instance.describe()
    assert after.steps == before.steps and [s.name for s in after.steps] == [
        "step-0",
        "step-1",
        "step-2",
    ]
    assert (after.status.status, after.status.output) == (before.status.status, 3)

    instance.restart(from_="step-1")
    wait_for(lambda: len(ledger_lines(ledger)) == 5, 60)
    assert instance.wait(60).output == 3
    lines = ledger_lines(ledger)
    assert [lines.count(f"{instance.id} step-{i}") for i in range(3)] == [1, 2, 2]
    again = instance.describe()
    assert again.steps[0] == before.steps[0]  # kept from the folded history
    assert [s.name for s in again.steps] == ["step-0", "step-1", "step-2"]
    wait_for(lambda: not path.exists(), 30)  # folded again once finished
