"""``pyflow workflows graph`` (offline, from pyflow.toml) and ``pyflow workflows
versions`` / ``graph --version`` (through a gateway on the in-memory transport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from examples.fanout import Fanout
from examples.hello import Hello
from pyflow_actors.cli import app
from pyflow_actors.config import WorkflowSpec
from pyflow_actors.graph import workflow_graph
from pyflow_actors.versions import describe_version, spec_config
from tests.api.conftest import ServerThread
from tests.fake_transport import FakeTransport
from tests.unit.gateway_on_fake import ACCOUNT, TOKEN, gateway_app

EXAMPLES_TOML = str(Path(__file__).parents[2] / "examples" / "pyflow.toml")


def pyflow(*args: str, **env: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_graph_prints_the_json_of_the_current_code_without_an_engine():
    result = pyflow("workflows", "graph", "fanout", "--config", EXAMPLES_TOML, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == workflow_graph(Fanout)


def test_graph_draws_a_tree_by_name_or_binding():
    result = pyflow("workflows", "graph", "ONBOARDING", "-c", EXAMPLES_TOML, COLUMNS="200")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Onboarding"
    assert (
        "step.do create account  retries 3 × 1 second exponential, timeout 30 seconds" in (lines[1])
    )
    assert any(
        "step.wait_for_event wait for approval  type approved, timeout 1 hour" in line
        for line in lines
    )
    assert any(line.strip().endswith("return") for line in lines)


def test_graph_of_an_unknown_workflow_is_one_error_line(tmp_path):
    result = pyflow("workflows", "graph", "nope", "-c", EXAMPLES_TOML)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: workflow.not_found: workflow 'nope' is not registered"
    missing = pyflow("workflows", "graph", "hello", "-c", str(tmp_path / "none.toml"))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: config.")


@pytest.fixture
def gateway_on_fake() -> Iterator[tuple[str, FakeTransport]]:
    fake = FakeTransport(("hello",))
    server = ServerThread(gateway_app(fake)).start()
    yield server.url, fake
    server.stop()


def test_versions_and_a_recorded_graph_come_from_the_gateway(gateway_on_fake):
    url, fake = gateway_on_fake
    version = describe_version(
        "hello", Hello, spec_config(WorkflowSpec.of("hello", Hello)), created_on=1_700_000_000.0
    )
    fake.versions["hello"] = [version]
    env = {"PYFLOW_URL": url, "PYFLOW_TOKEN": TOKEN, "PYFLOW_ACCOUNT": ACCOUNT, "COLUMNS": "200"}
    listed = pyflow("workflows", "versions", "hello", **env)
    assert listed.exit_code == 0, listed.stderr
    assert version.id in listed.stdout and "Hello" in listed.stdout
    as_json = pyflow("workflows", "versions", "hello", "--json", **env)
    assert [v["id"] for v in json.loads(as_json.stdout)] == [version.id]
    drawn = pyflow("workflows", "graph", "hello", "--version", version.id, "--json", **env)
    assert drawn.exit_code == 0, drawn.stderr
    assert json.loads(drawn.stdout) == workflow_graph(Hello)
    missing = pyflow("workflows", "graph", "hello", "--version", "nope", **env)
    assert missing.exit_code == 1 and "version.not_found" in missing.stderr
