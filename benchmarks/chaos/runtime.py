"""The engine under test, as processes the soak can kill -9 and start again.

A local multi-node Ray (``ray start --head`` and ``ray start --address`` worker
nodes, each in a session of its own), the gateway (``pyflow dev --address``,
which also configures the supervisor in that cluster) and the probe (the
soak's eyes inside Ray, :mod:`benchmarks.chaos.probe`). The storage folder
is shared by every node, as a cluster shares a mounted path.

Every process it starts gets the test-only clock knob
(``PYFLOW_TEST_CLOCK_OFFSET_FILE``), so the engine's clock follows the soak's
offset file while the machine's does not move.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from pyflow_actors.engine.clock import CLOCK_OFFSET_ENV

from .probe import PREFIX

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "chaos-soak-token"
NAMESPACE = "chaos"
START_TIMEOUT = 180.0  # seconds for a process to come up on a loaded machine
# Dead nodes are noticed in about a second (Ray's default is tens of seconds).
FAST_HEALTH = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "2",
    "RAY_health_check_initial_delay_ms": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kill_tree(proc: subprocess.Popen[Any]) -> int:
    """kill -9 the process, everything it started and its session; how many processes."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for victim in tree:
        with contextlib.suppress(psutil.Error):
            victim.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    return len(tree)


class Probe:
    """The probe process: one question, one answer (None if it cannot answer now)."""

    def __init__(self, address: str, env: dict[str, str], log: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.chaos.probe", address, NAMESPACE],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
            text=True,
            start_new_session=True,
        )
        self._lock = threading.Lock()  # the faults and the pid watch both ask
        if self._read(START_TIMEOUT) is None:
            kill_tree(self.proc)
            raise RuntimeError(f"the probe did not start: see {log}")

    def ask(self, timeout: float = 60.0, **question: Any) -> Any:
        assert self.proc.stdin is not None
        with self._lock:
            try:
                self.proc.stdin.write(json.dumps(question) + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                return None
            reply = self._read(timeout)
        return reply.get("result") if reply and reply.get("ok") else None

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                return None
            line = self.proc.stdout.readline()
            if not line:
                return None  # it died
            if line.startswith(PREFIX):
                answer: dict[str, Any] = json.loads(line[len(PREFIX) :])
                return answer
        return None

    def stop(self) -> None:
        kill_tree(self.proc)


class Runtime:
    """Head, ``nodes`` worker nodes, gateway and probe on ``storage``; logs in ``work``."""

    def __init__(self, work: Path, storage: Path, offset_file: Path, nodes: int) -> None:
        self.work, self.storage, self.nodes_wanted = work, storage, nodes
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYFLOW_"))}
        self.env.update(FAST_HEALTH, PYTHONPATH=str(ROOT), RAY_DEDUP_LOGS="0")
        self.env["RAY_AUTH_MODE"] = "disabled"  # one machine, one user: no Ray token
        self.env[CLOCK_OFFSET_ENV] = str(offset_file)
        self.head: subprocess.Popen[Any] | None = None
        self.nodes: list[subprocess.Popen[Any]] = []
        self.gateway: subprocess.Popen[Any] | None = None
        self.probe: Probe | None = None
        self.address, self.url = "", ""
        self.config = work / "pyflow.toml"

    # -- starting -------------------------------------------------------------

    def write_config(self, workflows: list[tuple[str, str]], max_running: int) -> None:
        blocks = "".join(
            f'[[workflows]]\nname = "{name}"\nclass_name = "benchmarks.chaos.workflow:ChaosFlow"\n'
            f'placement = "{placement}"\n\n'
            for name, placement in workflows
        )
        self.config.write_text(
            blocks
            + f'[[tokens]]\ntoken = "{TOKEN}"\naccounts = ["local"]\n\n'
            + f'[engine]\nstorage = "{self.storage}"\nnamespace = "{NAMESPACE}"\n'
            + f'hibernate_after = "1 second"\nmax_running = {max_running}\n'
            + f'code_paths = ["{ROOT}"]\n'
        )

    def start(self) -> None:
        """Everything, in order: head, worker nodes, gateway (and supervisor), probe."""
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.head = self._ray("head", "--head", f"--port={port}", "--num-cpus=2")
        while len(self.nodes) < self.nodes_wanted:
            self.add_node()
        self.start_gateway()
        self.start_probe()

    def _ray(self, name: str, *args: str) -> subprocess.Popen[Any]:
        log = self.work / f"ray-{name}-{time.time():.0f}.log"
        head = ["--temp-dir", str(self.work / "ray"), "--include-dashboard=false"]
        only_head = head if "--head" in args else []
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args, *only_head]
            + ["--object-store-memory=80000000"],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                kill_tree(proc)
                raise RuntimeError(f"ray start {name} failed: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        return proc

    def add_node(self) -> None:
        self.nodes.append(self._ray("node", f"--address={self.address}", "--num-cpus=1"))

    def start_gateway(self) -> None:
        port = free_port()
        log = self.work / f"gateway-{port}.log"
        self.gateway = subprocess.Popen(
            [str(BIN / "pyflow"), "dev", "--config", str(self.config)]
            + ["--address", self.address, "--port", str(port)],
            cwd=self.work,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not self._healthy():
            if self.gateway.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_probe(self) -> None:
        self.probe = Probe(self.address, self.env, self.work / "probe.log")

    # -- killing --------------------------------------------------------------

    def kill_gateway(self) -> int:
        """kill -9 the gateway process, start another (on a new port); how many processes."""
        assert self.gateway is not None
        killed = kill_tree(self.gateway)
        self.start_gateway()
        return killed

    def kill_node(self, index: int) -> int:
        """kill -9 a worker node (raylet and every worker on it), then add a fresh one;
        how many processes."""
        killed = kill_tree(self.nodes.pop(index))
        self.add_node()
        return killed

    def kill_everything(self) -> int:
        """kill -9 every process of the runtime at once; how many there were."""
        procs = [p for p in (self.gateway, self.head, *self.nodes) if p is not None]
        victims: list[psutil.Process] = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(proc.pid)
                victims += [root, *root.children(recursive=True)]
        for victim in victims:
            with contextlib.suppress(psutil.Error):
                victim.kill()
        for proc in procs:
            kill_tree(proc)
        if self.probe is not None:
            self.probe.stop()
        self.head, self.nodes, self.gateway, self.probe = None, [], None, None
        return len(victims)

    def ensure_whole(self) -> None:
        """Start again whatever a failed fault left down (the drain needs all of it)."""
        if self.gateway is None or self.probe is None or self.head is None:
            self.kill_everything()
            self.start()
        elif self.gateway.poll() is not None:
            self.start_gateway()

    def stop(self) -> None:
        self.kill_everything()
