"""A workflow's settings on the real engine, through the official SDK's
``workflows.update``, our client and the CLI: the running cap applies to the
next instances, the settings show in get and make a new version."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pyflow_actors.cli import app
from pyflow_actors.config import WorkflowSpec
from tests.api.conftest import ACCOUNT, TOKEN
from tests.conftest import wait_for
from tests.workflows import Timed

pytestmark = pytest.mark.ray

WF = "settings-timed"


@pytest.fixture(scope="module")
def registered(engine):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of(WF, Timed))).client.close()


def test_sdk_update_caps_running_instances_and_shows_in_get(registered, engine, cf, tmp_path):
    cf.workflows.update(
        WF,
        account_id=ACCOUNT,
        class_name="Timed",
        script_name="tests.workflows",
        concurrency={"limit": 1},
        default_retention={"success_retention": "1 day"},
        limits={"steps": 20},
        schedules=[{"cron": "0 0 1 1 *"}],
    )
    got = cf.workflows.get(WF, account_id=ACCOUNT)
    assert [s.cron for s in got.schedules] == ["0 0 1 1 *"]
    assert (got.model_extra or {})["concurrency"] == {"limit": 1}
    versions = cf.workflows.versions.list(WF, account_id=ACCOUNT)
    assert versions.result[0].limits.steps == 20

    ledger = tmp_path / "ledger.txt"
    instances = [
        engine.client.workflow(WF).create(params={"ledger": str(ledger), "seconds": 0.5})
        for _ in range(2)
    ]
    wait_for(lambda: all(i.status().is_final for i in instances), 60)
    events = [line.split() for line in ledger.read_text().splitlines()]
    assert [e[1] for e in events] == ["start", "end", "start", "end"]  # never two at once


def test_client_and_cli_update(registered, engine, gateway):
    info = engine.client.workflow(WF).update(concurrency=2, max_steps=9)
    assert (info.settings.max_running, info.settings.max_steps, info.settings.schedules) == (
        2,
        9,
        (),
    )
    env = {"PYFLOW_URL": gateway, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}
    done = CliRunner().invoke(
        app,
        ["workflows", "update", WF, "--concurrency", "3", "--schedule", "*/30 * * * *", "--json"],
        env=env,
    )
    assert done.exit_code == 0, (done.stdout, done.stderr)
    assert json.loads(done.stdout)["name"] == WF
    settings = engine.client.workflow(WF).info().settings
    assert (settings.max_running, settings.max_steps, settings.schedules) == (
        3,
        None,
        ("*/30 * * * *",),
    )
