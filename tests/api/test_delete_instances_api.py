"""Deleting instances on the real engine: REST (the SDK has no delete call:
``DELETE .../instances/{id}`` and ``POST .../instances/batch/delete``), our
client on both transports, and the CLI. A running instance stops (its step
does not go on), and its journal, log and registry row are gone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyflow_actors.cli import app
from pyflow_actors.errors import InstanceNotFound
from pyflow_actors.storage.journal import journal_path
from tests.api.conftest import ACCOUNT, TOKEN, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def _slow(tmp_path: Path) -> dict[str, object]:
    return {"ledger": str(tmp_path / "ledger.txt"), "steps": 3, "step_seconds": 2}


def _lines(tmp_path: Path) -> list[str]:
    path = tmp_path / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_rest_delete_stops_a_running_instance_and_erases_it(engine, http, tmp_path):
    instance_id = new_id("del")
    created = http.post(
        "/ledger/instances", json={"instance_id": instance_id, "params": _slow(tmp_path)}
    )
    assert created.status_code == 201, created.text
    wait_for(lambda: _lines(tmp_path), 60)  # the first step is running
    journal = journal_path(Path(engine.config.storage), "ledger", instance_id)
    assert journal.exists()

    deleted = http.delete(f"/ledger/instances/{instance_id}")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["result"] == {"id": instance_id, "deleted": True}
    assert http.get(f"/ledger/instances/{instance_id}").status_code == 404
    assert not journal.exists()
    assert http.delete(f"/ledger/instances/{instance_id}").status_code == 404
    time.sleep(2.5)  # one step's time: a run that went on would have begun its next step
    assert len(_lines(tmp_path)) == 1


def test_batch_delete_answers_per_id(engine, http):
    ids = [new_id("b"), new_id("b")]
    for instance_id in ids:
        http.post("/echo/instances", json={"instance_id": instance_id, "params": 1})
    response = http.post("/echo/instances/batch/delete", json={"instances": [*ids, "missing-1"]})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["deleted"] == [{"id": i} for i in ids]
    assert [e["id"] for e in result["errors"]] == ["missing-1"]
    assert result["errors"][0]["message"].startswith("instance.not_found")


def test_client_delete_on_both_transports(any_client):
    workflow = any_client.workflow("waiter")
    instance = workflow.create(params={"type": "never", "timeout": 600})
    wait_for(lambda: instance.status().status in ("running", "waiting"), 60)
    instance.delete()
    with pytest.raises(InstanceNotFound):
        instance.status()
    others = [workflow.create(params={"type": "never", "timeout": 600}) for _ in range(2)]
    result = workflow.delete_batch([o.id for o in others])
    assert [d.id for d in result.deleted] == [o.id for o in others] and result.errors == []


def test_cli_deletes_ids_and_a_file_and_fails_on_an_unknown_id(engine, gateway, tmp_path):
    client = engine.client.workflow("echo")
    ids = [client.create(params=i).id for i in range(3)]
    listed = tmp_path / "ids.json"
    listed.write_text(json.dumps(ids[1:]))
    env = {"PYFLOW_URL": gateway, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}
    cli = CliRunner()
    done = cli.invoke(
        app, ["instances", "delete", "echo", ids[0], "--filename", str(listed)], env=env
    )
    assert done.exit_code == 0, (done.stdout, done.stderr)
    assert all(f"Deleted instance {i}." in done.stdout for i in ids)
    again = cli.invoke(app, ["instances", "delete", "echo", ids[0]], env=env)
    assert again.exit_code == 1 and "instance.not_found" in again.stderr
