"""The ``pyflow`` CLI against the real gateway (``PYFLOW_URL``/``PYFLOW_TOKEN``/``PYFLOW_ACCOUNT``)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from pyflow_actors.cli import app
from pyflow_actors.config import WorkflowSpec
from tests.api.conftest import ACCOUNT, TOKEN, new_id
from tests.conftest import SHARED, wait_for
from tests.workflows import Echo

pytestmark = pytest.mark.ray


@pytest.fixture
def pyflow(gateway):
    """Run ``pyflow ARGS...``; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()
    env = {"PYFLOW_URL": gateway, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT}

    def invoke(*args: str, **extra_env: str):
        return runner.invoke(app, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def failed(result, code: str) -> str:
    """A failure: exit code 1 and exactly one line on stderr, starting with the code."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {code}"), lines[0]
    return lines[0]


def status(pyflow, workflow: str, instance_id: str) -> str:
    return json.loads(ok(pyflow("instances", "describe", workflow, instance_id, "--json")))[
        "status"
    ]


def test_list_and_describe_workflows(pyflow):
    out = ok(pyflow("list"))
    assert "echo" in out and "waiter" in out and "Echo" in out
    listed = json.loads(ok(pyflow("list", "--json")))["result"]
    assert {"echo", "waiter"} <= {w["name"] for w in listed}
    assert "tests.workflows" in ok(pyflow("describe", "echo"))
    assert json.loads(ok(pyflow("describe", "echo", "--json")))["name"] == "echo"
    failed(pyflow("describe", "nope"), "workflow.not_found")


def test_trigger_then_describe_latest(pyflow):
    instance_id = new_id("cli")
    out = ok(pyflow("trigger", "echo", '{"who": "cli"}', "--id", instance_id))
    assert f"Created instance {instance_id} of echo" in out
    wait_for(lambda: status(pyflow, "echo", instance_id) == "complete", 30)
    described = ok(pyflow("instances", "describe", "echo", instance_id))
    assert "complete" in described and '"who": "cli"' in described and "echo" in described
    latest = json.loads(ok(pyflow("instances", "describe", "echo", "latest", "--json")))
    assert latest["id"] == instance_id  # the newest instance of echo
    assert latest["output"]["echo"] == {"who": "cli"}
    generated = json.loads(ok(pyflow("trigger", "echo", "--json")))
    assert len(generated["id"]) == 36 and generated["status"] in ("queued", "running")


def test_instances_list_with_status_pages_and_reverse(pyflow):
    ids = [json.loads(ok(pyflow("trigger", "echo", "1", "--json")))["id"] for _ in range(2)]
    for instance_id in ids:
        wait_for(lambda i=instance_id: status(pyflow, "echo", i) == "complete", 30)
    page = json.loads(ok(pyflow("instances", "list", "echo", "--per-page", "2", "--json")))
    newest = page["result"]
    assert [i["id"] for i in newest] == ids[::-1]
    assert page["result_info"]["per_page"] == 2 and page["result_info"]["total_count"] >= 2
    oldest = json.loads(
        ok(pyflow("instances", "list", "echo", "--reverse", "--per-page", "1", "--json"))
    )["result"]
    assert oldest[0]["id"] not in ids
    complete = json.loads(
        ok(pyflow("instances", "list", "echo", "--status", "complete", "--json"))
    )["result"]
    assert all(i["status"] == "complete" for i in complete)
    table = ok(pyflow("instances", "list", "echo", "--per-page", "2"))
    assert "complete" in table and "page 1 of" in table
    failed(pyflow("instances", "list", "echo", "--status", "sleeping"), "validation.invalid")


def test_send_event_and_the_control_commands(pyflow):
    instance_id = new_id("ctl")
    ok(pyflow("trigger", "waiter", '{"type": "go"}', "--id", instance_id))
    wait_for(lambda: status(pyflow, "waiter", instance_id) in ("running", "waiting"), 30)
    assert "pause done" in ok(pyflow("instances", "pause", "waiter", instance_id))
    wait_for(lambda: status(pyflow, "waiter", instance_id) == "paused", 30)
    ok(pyflow("instances", "resume", "waiter", instance_id))
    wait_for(lambda: status(pyflow, "waiter", instance_id) in ("running", "waiting"), 30)
    out = ok(
        pyflow(
            "instances",
            "send-event",
            "waiter",
            instance_id,
            "--type",
            "go",
            "--payload",
            '{"a": 1}',
        )
    )
    assert "Sent event 'go'" in out
    wait_for(lambda: status(pyflow, "waiter", instance_id) == "complete", 30)
    failed(pyflow("instances", "terminate", "waiter", instance_id), "instance.invalid_transition")
    restarted = json.loads(ok(pyflow("instances", "restart", "waiter", instance_id, "--json")))
    assert restarted["status"] in ("queued", "running")
    wait_for(lambda: status(pyflow, "waiter", instance_id) in ("running", "waiting"), 30)
    out = ok(pyflow("instances", "terminate", "waiter", "latest"))
    assert f"Instance {instance_id}: terminate done" in out
    assert "terminated" in out


def test_failures_are_one_line_and_exit_1(pyflow):
    failed(pyflow("trigger", "echo", "{not json"), "PARAMS is not valid JSON")
    failed(pyflow("trigger", "echo", "--id", "bad id"), "instance.invalid_id")
    failed(pyflow("trigger", "nope"), "workflow.not_found")
    failed(pyflow("instances", "describe", "echo", "nope"), "instance.not_found")
    failed(
        pyflow("instances", "send-event", "echo", "x", "--type", "t", "--payload", "{"), "--payload"
    )
    failed(pyflow("list", PYFLOW_TOKEN="wrong"), "auth.unauthorized")
    failed(pyflow("list", PYFLOW_ACCOUNT="someone-else"), "auth.forbidden")
    failed(pyflow("list", PYFLOW_URL="http://127.0.0.1:9"), "engine.unavailable")
    failed(pyflow("--url", "http://127.0.0.1:9", "list"), "engine.unavailable")


def test_latest_of_a_workflow_without_instances(pyflow, engine):
    from pyflow_actors.runtime.local import start_local

    start_local(engine.config.with_workflows(WorkflowSpec.of("empty-cli", Echo))).client.close()
    failed(pyflow("instances", "describe", "empty-cli"), "workflow 'empty-cli' has no instances")
    assert "No instances." in ok(pyflow("instances", "list", "empty-cli"))
    assert "Deleted workflow empty-cli" in ok(pyflow("delete", "empty-cli"))
    failed(pyflow("delete", "empty-cli"), "workflow.not_found")


@pytest.mark.parametrize("placement", ["dedicated", "shared"])
def test_instances_describe_shows_where_the_instance_runs(pyflow, placement):
    workflow = "echo" + (SHARED if placement == "shared" else "")
    instance_id = new_id("cli-place")
    ok(pyflow("trigger", workflow, "--id", instance_id))
    wait_for(lambda: status(pyflow, workflow, instance_id) == "complete", 30)
    described = ok(pyflow("instances", "describe", workflow, instance_id))
    assert re.search(rf"Placement\s+{placement}", described), described
    as_json = json.loads(ok(pyflow("instances", "describe", workflow, instance_id, "--json")))
    assert as_json["placement"] == placement
