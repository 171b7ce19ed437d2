"""``pyflow dev --config <case>/pyflow.toml``: a ported project served as a user runs it."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.api.test_cli_dev import DevServer
from tests.conftest import wait_for
from tests.porting.conftest import CASES

pytestmark = pytest.mark.ray


def test_pyflow_dev_serves_the_worker_that_triggers_a_workflow_and_sends_it_an_event(tmp_path):
    config = CASES / "trigger_and_event" / "pyflow.toml"
    server = DevServer(tmp_path, "--config", str(config), "--storage", str(tmp_path / "state"))
    try:
        banner = server.log.read_text()
        assert f"worker:    {server.url}/workers/trigger-and-event/" in banner
        assert "is public" not in banner  # loopback only
        with httpx.Client(base_url=f"{server.url}/workers/trigger-and-event", timeout=30) as worker:
            created = worker.post("/?instanceId=dev-1", json={"item": "pen"})  # no token
            assert created.json() == {"id": "dev-1"}, created.text

            def status() -> str:
                return worker.get("/?instanceId=dev-1").json()["status"]

            wait_for(lambda: status() == "waiting", 90, 0.2)
            assert worker.post("/event?instanceId=dev-1", json={"by": "dev"}).is_success
            wait_for(lambda: status() == "complete", 90, 0.2)
            assert worker.get("/?instanceId=dev-1").json()["output"] == {
                "payload": {"item": "pen"},
                "approval": {"by": "dev"},
            }
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.kill()
