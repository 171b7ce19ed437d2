"""Restart from a step on the real engine, through the official SDK, our client
and the CLI: the steps before the named one keep their results (they do not
run again), it and the later ones run again, a missing step is a 404."""

from __future__ import annotations

import json
from pathlib import Path

import cloudflare
import pytest
from typer.testing import CliRunner

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.cli import app
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.errors import StepNotFound
from tests.api.conftest import ACCOUNT, TOKEN, new_id
from tests.conftest import wait_for

pytestmark = pytest.mark.ray

WF = "restart-from"


def _ran(folder: str, name: str) -> int:
    """Record one run of step ``name`` (instance actors are other processes)."""
    with (Path(folder) / name).open("a") as runs:
        runs.write("x")
    return (Path(folder) / name).stat().st_size


class FetchChargeWait(WorkflowEntrypoint):
    async def run(self, event, step):
        folder = event["payload"]["dir"]
        fetched = await step.do("fetch")(lambda: _ran(folder, "fetch"))
        charged = await step.do("charge")(lambda: _ran(folder, "charge"))
        await step.wait_for_event("approval", "go", timeout="1 hour")
        return {"fetched": fetched, "charged": charged}


@pytest.fixture(scope="module")
def registered(engine):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, FetchChargeWait))).client.close()


def _runs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


def _waiting(get) -> None:  # type: ignore[no-untyped-def]
    wait_for(lambda: get().status == "waiting", 60)


def test_sdk_restart_from_a_step_keeps_the_steps_before_it(registered, cf, tmp_path):
    instance_id = new_id("rf")
    cf.workflows.instances.create(
        WF, account_id=ACCOUNT, instance_id=instance_id, params=json.dumps({"dir": str(tmp_path)})
    )

    def get():  # type: ignore[no-untyped-def]
        return cf.workflows.instances.get(instance_id, account_id=ACCOUNT, workflow_name=WF)

    _waiting(get)
    with pytest.raises(cloudflare.NotFoundError, match="no do step named 'missing'"):
        cf.workflows.instances.status.edit(
            instance_id,
            account_id=ACCOUNT,
            workflow_name=WF,
            status="restart",
            from_={"name": "missing"},
        )
    cf.workflows.instances.status.edit(
        instance_id,
        account_id=ACCOUNT,
        workflow_name=WF,
        status="restart",
        from_={"name": "charge", "count": 1, "type": "do"},
    )
    wait_for(lambda: _runs(tmp_path).get("charge") == 2, 60)
    _waiting(get)
    cf.workflows.instances.events.create(
        "go", account_id=ACCOUNT, workflow_name=WF, instance_id=instance_id, body={}
    )
    wait_for(lambda: get().status == "complete", 60)
    assert get().output == {"fetched": 1, "charged": 2}
    assert _runs(tmp_path) == {"fetch": 1, "charge": 2}


def test_client_and_cli_restart_from_a_wait(registered, engine, gateway, tmp_path):
    instance = engine.client.workflow(WF).create(params={"dir": str(tmp_path)})
    wait_for(lambda: instance.status().status == "waiting", 60)
    with pytest.raises(StepNotFound):
        instance.restart(from_={"name": "charge", "type": "sleep"})
    instance.restart(from_={"name": "approval", "type": "waitForEvent"})
    wait_for(lambda: instance.status().status == "waiting", 60)
    assert _runs(tmp_path) == {"fetch": 1, "charge": 1}  # nothing before the wait ran again

    env = {"PYFLOW_URL": gateway, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}
    result = CliRunner().invoke(
        app, ["instances", "restart", WF, instance.id, "--from", "charge:1"], env=env
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    wait_for(lambda: _runs(tmp_path).get("charge") == 2, 60)
    assert _runs(tmp_path)["fetch"] == 1
    missing = CliRunner().invoke(
        app, ["instances", "restart", WF, instance.id, "--from", "nope:2"], env=env
    )
    assert missing.exit_code == 1 and "step.not_found" in missing.stderr
