"""Dead letters: listed through the gateway and by ``pyflow subscriptions dead-letters``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pyflow_actors.cli import app as cli
from pyflow_actors.storage.outbox import OutboxItem
from pyflow_actors.storage.registry import Registry
from tests.fake_transport import FakeTransport
from tests.unit.test_watch import TOKEN, gateway_url  # noqa: F401 - the gateway fixture

ACCOUNT = "acme"


@pytest.fixture
def fake(tmp_path):
    registry = Registry(tmp_path)
    outbox = registry.outbox
    outbox.max_attempts = 1
    body = json.dumps({"type": "cf.workflows.workflow.instance.errored"})
    outbox.add(
        [OutboxItem("ops", "shop", "i1", body), OutboxItem("audit", "shop", "i2", body)], 1.0
    )
    for message in outbox.due(now=1e12):
        outbox.failed(message.seq, "HTTP 503", 1e12)
    fake = FakeTransport(("shop",))
    fake.outbox = outbox
    yield fake
    registry.close()


def cli_run(url: str, *args: str):
    options = ["--url", url, "--token", TOKEN, "--account", ACCOUNT]
    return CliRunner().invoke(cli, [*options, "subscriptions", "dead-letters", *args])


def test_the_cli_lists_dead_letters_newest_first(gateway_url):  # noqa: F811
    result = cli_run(gateway_url, "--json")
    assert result.exit_code == 0, result.output
    letters = json.loads(result.output)
    assert [(d["subscription"], d["instance_id"]) for d in letters] == [
        ("audit", "i2"),
        ("ops", "i1"),
    ]
    assert {d["last_error"] for d in letters} == {"HTTP 503"}
    table = cli_run(gateway_url, "--subscription", "ops")
    assert table.exit_code == 0 and "errored" in table.output and "i1" in table.output
    assert "i2" not in table.output


def test_without_a_token_the_cli_says_so_in_one_line(gateway_url):  # noqa: F811
    result = CliRunner().invoke(
        cli, ["--url", gateway_url, "--token", "wrong", "subscriptions", "dead-letters"]
    )
    assert result.exit_code == 1 and "auth.unauthorized" in result.output
