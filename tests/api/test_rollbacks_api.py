"""Rollbacks through the official cloudflare SDK, our HTTP client and the CLI:
``instances.status.edit(status="terminate", rollback=True)``; ``instances.get``
parses the ``rollback`` field and the ``type: "rollback"`` step entries;
``rollback`` on another action is a clear 400."""

from __future__ import annotations

import json

import cloudflare
import pytest
from typer.testing import CliRunner

from pyflow_actors import Client
from pyflow_actors.cli import app
from tests.api.conftest import ACCOUNT, TOKEN, new_id
from tests.conftest import wait_for
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

WF = "saga"


def _undone(ledger: str, instance_id: str) -> list[str]:
    return [line.split(" ")[2] for line in ledger_lines(ledger) if f"{instance_id} undo " in line]


def test_sdk_terminate_with_rollback_and_get_shows_rollback_steps(cf, ledger):
    instance_id = new_id("sdk-rb")
    params = json.dumps({"ledger": ledger, "wait_for": "never-sent"})
    cf.workflows.instances.create(WF, account_id=ACCOUNT, instance_id=instance_id, params=params)

    def get():  # type: ignore[no-untyped-def]
        return cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name=WF)

    wait_for(lambda: f"{instance_id} do car" in ledger_lines(ledger), 60)
    with pytest.raises(cloudflare.BadRequestError, match="only for a terminate"):
        cf.workflows.instances.status.edit(
            instance_id, account_id=ACCOUNT, workflow_name=WF, status="pause", rollback=True
        )
    edited = cf.workflows.instances.status.edit(
        instance_id, account_id=ACCOUNT, workflow_name=WF, status="terminate", rollback=True
    )
    assert edited.status in ("rollingBack", "terminated")
    wait_for(lambda: get().status == "terminated", 60)

    got = get()
    assert got.rollback is not None and got.rollback.outcome == "complete"
    assert got.rollback.error is None
    rollbacks = [s for s in got.steps if s.type == "rollback"]
    assert [s.name for s in rollbacks] == ["car-1", "hotel-1", "flight-1"]
    assert all(s.success and s.attempts for s in rollbacks)
    assert _undone(ledger, instance_id) == ["car", "hotel", "flight"]


def test_sdk_get_of_a_failed_instance_shows_its_rollback(cf, ledger):
    instance_id = new_id("sdk-fail")
    params = json.dumps({"ledger": ledger, "fail": True})
    cf.workflows.instances.create(WF, account_id=ACCOUNT, instance_id=instance_id, params=params)

    def get():  # type: ignore[no-untyped-def]
        return cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name=WF)

    wait_for(lambda: get().status == "errored", 60)
    got = get()
    assert got.error is not None and got.error.message == "payment declined"
    assert got.rollback is not None and got.rollback.outcome == "complete"
    assert [s.name for s in got.steps if s.type == "rollback"] == ["car-1", "hotel-1", "flight-1"]


def test_http_client_and_cli_terminate_with_rollback(gateway, ledger):
    env = {"PYFLOW_URL": gateway, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}
    with Client.connect(url=gateway, token=TOKEN, account=ACCOUNT) as client:
        by_client = client.workflow(WF).create(params={"ledger": ledger, "wait_for": "never"})
        by_cli = client.workflow(WF).create(params={"ledger": ledger, "wait_for": "never"})
        for instance in (by_client, by_cli):
            wait_for(lambda i=instance: f"{i.id} do car" in ledger_lines(ledger), 60)

        by_client.terminate({"rollback": True})
        result = CliRunner().invoke(
            app, ["instances", "terminate", WF, by_cli.id, "--rollback"], env=env
        )
        assert result.exit_code == 0, (result.stdout, result.stderr)

        for instance in (by_client, by_cli):
            assert instance.wait(60).status == "terminated"
            assert _undone(ledger, instance.id) == ["car", "hotel", "flight"]
            assert instance.describe().rollback is not None
