"""An instance terminated with rollback while queued for a slot is counted as
rollingBack: the workflow's ``instances`` counts and a list by status agree
with its status (official cloudflare SDK, the real gateway over HTTP).

Its row says queued until a slot frees; the counts once said queued while its
status said rollingBack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyflow_actors.config import WorkflowSpec
from tests.api.conftest import ACCOUNT, new_id
from tests.conftest import wait_for
from tests.workflows import Saga, ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

WF = "rollback-counts-saga"  # one running instance at a time


@pytest.fixture(scope="module")
def registered(engine):
    from pyflow_actors.runtime.local import start_local

    spec = WorkflowSpec.of(WF, Saga, max_running=1)
    start_local(engine.config.with_workflows(spec)).client.close()


def test_a_rollback_queued_for_a_slot_is_counted_and_listed_as_rolling_back(
    registered, cf, ledger, tmp_path
):
    gate = tmp_path / "gate"  # the holder's hotel handler waits for it: it keeps the slot
    holder, queued = new_id("rb-holder"), new_id("rb-queued")

    def create(instance_id: str, **params: str) -> None:
        cf.workflows.instances.create(
            WF, account_id=ACCOUNT, instance_id=instance_id,
            params=json.dumps({"ledger": ledger, "wait_for": "never", **params}),
        )  # fmt: skip

    def terminate_with_rollback(instance_id: str) -> None:
        cf.workflows.instances.status.edit(
            instance_id, account_id=ACCOUNT, workflow_name=WF, status="terminate", rollback=True
        )

    def status(instance_id: str) -> str:
        # As the list shows it: instances.get also reads the steps, beside the point here.
        page = cf.workflows.instances.list(WF, account_id=ACCOUNT)
        return next(i.status for i in page.result if i.id == instance_id)

    def listed(shown: str) -> set[str]:
        page = cf.workflows.instances.list(WF, account_id=ACCOUNT, status=shown)  # type: ignore[arg-type]
        return {i.id for i in page.result}

    def counts() -> dict[str, float]:
        return {s: n for s, n in cf.workflows.get(WF, account_id=ACCOUNT).instances.items() if n}

    create(holder, gate=str(gate))
    wait_for(lambda: f"{holder} do car" in ledger_lines(ledger), 60)
    terminate_with_rollback(holder)
    wait_for(lambda: f"{holder} undoing hotel" in ledger_lines(ledger), 60)
    create(queued)
    assert status(queued) == "queued"  # the holder keeps the workflow's one slot
    terminate_with_rollback(queued)

    assert status(queued) == status(holder) == "rollingBack"
    assert listed("rollingBack") == {holder, queued} and listed("queued") == set()
    assert counts() == {"rollingBack": 2}

    Path(gate).touch()
    wait_for(lambda: status(holder) == status(queued) == "terminated", 60)
    assert listed("rollingBack") == set() and counts() == {"terminated": 2}
