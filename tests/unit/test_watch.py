"""``pyflow instances describe NAME ID --watch``: the event stream of a real
(in-process) gateway, printed until the instance ends."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from typer.testing import CliRunner

from pyflow_actors.cli import app as cli
from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec
from service import create_app
from tests.conftest import wait_for
from tests.unit.test_instance_stream import OK_RUN, details, fake  # noqa: F401 - fixtures

TOKEN, ACCOUNT = "unit-token", "acme"


@pytest.fixture
def gateway_url(fake):  # noqa: F811 - the imported fixture
    app = create_app(AsyncClient(fake), EngineConfig(), tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def run_cli(url: str, *args: str):
    options = ["--url", url, "--token", TOKEN, "--account", ACCOUNT]
    return CliRunner().invoke(cli, [*options, "instances", "describe", *args])


def test_watch_prints_every_event_and_ends_with_the_instance(gateway_url):
    result = run_cli(gateway_url, "shop", "ok-1", "--watch", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["type"] for e in events] == OK_RUN


def test_watch_shows_errors_in_readable_lines(gateway_url):
    result = run_cli(gateway_url, "shop", "bad-1", "--watch")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "workflow_errored" in lines[-1]
    assert any(
        "attempt_errored" in line and "PaymentError: card declined" in line for line in lines
    )


def test_watch_follows_a_running_instance_until_it_completes(gateway_url, fake, details):  # noqa: F811
    final = details["ok-1"]
    fake.instances[("shop", "ok-1")] = final.status.model_copy(
        update={"status": "running", "ended_at": None, "output": None}
    )
    fake.steps[("shop", "ok-1")] = final.steps[:1]

    def finish() -> None:
        time.sleep(0.6)
        fake.instances[("shop", "ok-1")] = final.status
        fake.steps[("shop", "ok-1")] = list(final.steps)

    threading.Thread(target=finish, daemon=True).start()
    started = time.monotonic()
    result = run_cli(gateway_url, "shop", "ok-1", "--watch", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["type"] for line in result.output.splitlines()] == OK_RUN
    assert time.monotonic() - started >= 0.5  # it waited for the end


def test_watch_of_a_missing_instance_is_one_error_line(gateway_url):
    result = run_cli(gateway_url, "shop", "missing", "--watch")
    assert result.exit_code == 1
    assert "instance.not_found" in result.output
