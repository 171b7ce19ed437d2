"""``pyflow dev`` as a user runs it: its own process tree with an embedded Ray.

It serves the gateway, stops everything it started on SIGINT (Ctrl-C) or
SIGTERM, and a second start on the same storage continues the instances.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.ray

GATE = """
from pyflow_actors import WorkflowEntrypoint


class Gate(WorkflowEntrypoint):
    async def run(self, event, step):
        opened = await step.wait_for_event("wait for open", "open", timeout="1 hour")
        return {"opened_by": opened["payload"]["by"], "params": event["payload"]}
"""


def pyflow_command() -> list[str]:
    script = Path(sys.executable).parent / "pyflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pyflow_actors.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevServer:
    """One ``pyflow dev`` process; ``url``, ``token`` and its process tree."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.log = workdir / f"dev-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLOW_", "RAY_"))}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [*pyflow_command(), "dev", "--port", str(self.port), *args],
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = wait_for(self._token, 90, 0.2)
        wait_for(self._healthy, 90, 0.2)
        self.tree: list[psutil.Process] = []

    def _token(self) -> str | None:
        assert self.proc.poll() is None, self.log.read_text()
        found = re.search(r"token:\s+(\S+)", self.log.read_text())
        return found.group(1) if found else None

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}/client/v4/accounts/local/workflows{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )

    def status(self, workflow: str, instance_id: str) -> str:
        return self.api("GET", f"/{workflow}/instances/{instance_id}/status").json()["result"][
            "status"
        ]

    def stop(self, sig: int) -> int:
        """Send ``sig``; return the exit code once the process and its whole tree are gone."""
        self.tree = psutil.Process(self.proc.pid).children(recursive=True)
        assert any("raylet" in p.name() or "gcs" in p.name() for p in self.tree)
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        _, alive = psutil.wait_procs(self.tree, timeout=20)
        assert not alive, f"left running: {[p.pid for p in alive]}"
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.tree = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.kill()
        for child in self.tree:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


def test_dev_serves_stops_cleanly_and_continues_on_restart(tmp_path):
    (tmp_path / "gate.py").write_text(GATE)
    (tmp_path / "pyflow.toml").write_text(
        '[[workflows]]\nname = "gate"\nclass_name = "gate:Gate"\n\n'
        '[engine]\nstorage = "state"\nhibernate_after = "1 second"\nmax_running = 2\n'
    )
    first = DevServer(tmp_path)  # finds ./pyflow.toml by itself
    try:
        banner = first.log.read_text()
        assert f"gateway on {first.url}" in banner and "dev-token.json" in banner
        assert "Token authentication" not in banner  # Ray's notice, not ours
        assert first.api("GET", "").status_code == 200
        created = first.api("POST", "/gate/instances", json={"instance_id": "g1", "params": 7})
        assert created.status_code == 201, created.text
        wait_for(lambda: first.status("gate", "g1") == "waiting", 60, 0.2)  # at its event wait
        assert first.stop(signal.SIGINT) == 0
    finally:
        first.kill()
    assert "stopped." in first.log.read_text()
    assert (tmp_path / "state").is_dir()

    second = DevServer(tmp_path, "--config", "pyflow.toml")
    try:
        assert second.token == first.token  # kept with the storage
        # It continues where it was: back at its wait (its actor may still be starting).
        wait_for(lambda: second.status("gate", "g1") == "waiting", 60, 0.2)
        # A second shell in the project folder needs no export.
        described = pyflow_here(tmp_path, "instances", "describe", "gate", "g1", "--json")
        assert described.returncode == 0, described.stderr
        assert json.loads(described.stdout)["status"] == "waiting"
        # A second engine on the same storage: one line, before starting anything.
        refused = pyflow_here(tmp_path, "dev", "--port", str(free_port()))
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"error: storage.in_use: storage {str(tmp_path / 'state')!r} is in use by "
            f"pyflow dev (pid {second.proc.pid}): stop it, or pass another --storage"
        )
        sent = second.api("POST", "/gate/instances/g1/events/open", json={"by": "second run"})
        assert sent.status_code == 200, sent.text
        wait_for(lambda: second.status("gate", "g1") == "complete", 60, 0.2)
        output = second.api("GET", "/gate/instances/g1").json()["result"]["output"]
        assert output == {"opened_by": "second run", "params": 7}
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.kill()


def pyflow_here(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pyflow ARGS`` run in ``folder`` with no PYFLOW_ environment (a second shell)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYFLOW_", "RAY_"))}
    return subprocess.run(
        [*pyflow_command(), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def test_dev_refuses_a_bad_workflow_class_with_one_line_per_problem(tmp_path):
    (tmp_path / "broken.py").write_text("class Gate(:\n    pass\n")
    (tmp_path / "pyflow.toml").write_text(
        'compatibility_date = "2024-09-23"\n'
        '[[workflows]]\nname = "gate"\nclass_name = "broken:Gate"\n'
        '[[workflows]]\nname = "other"\nclass_name = "missing:Other"\n'
    )
    result = pyflow_here(tmp_path, "dev", "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "warning: 'compatibility_date' is not used by pyflow (ignored)",
        f"error: config.invalid: workflow 'gate': syntax error in {tmp_path / 'broken.py'} "
        "line 1: invalid syntax",
        "error: config.invalid: workflow 'other': module 'missing' not found "
        "(class_name 'missing:Other')",
    ]


def test_dev_refuses_to_bind_beyond_loopback_without_tokens(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYFLOW_")}
    started = time.monotonic()
    result = subprocess.run(
        [*pyflow_command(), "dev", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "local Ray" not in result.stderr  # refused before starting anything
    assert time.monotonic() - started < 30


def test_dev_reports_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYFLOW_")}
        result = subprocess.run(
            [*pyflow_command(), "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
