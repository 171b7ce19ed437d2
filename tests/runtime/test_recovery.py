"""Crash recovery, for real: kill instance actors and the supervisor, restart the runtime."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import ray

from pyflow_actors.constants import DEFAULT_NAMESPACE, SUPERVISOR_NAME, actor_name
from tests.conftest import wait_for
from tests.workflows import ledger_lines

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]


def start_ledger(client, ledger: str, **params):
    instance_id = f"rec-{uuid.uuid4().hex[:8]}"
    params = {"ledger": ledger, "steps": 3, "step_seconds": 1.0, **params}
    return client.workflow("ledger").create(id=instance_id, params=params)


def assert_each_step_once_but_the_killed_one(ledger: str, instance_id: str, killed_step: int):
    lines = ledger_lines(ledger)
    for i in range(3):
        count = lines.count(f"{instance_id} step-{i}")
        if i == killed_step:
            assert 1 <= count <= 2, lines  # the attempt in flight is retried
        else:
            assert count == 1, lines  # committed steps never run again


def test_ray_kill_of_instance_actor_mid_step_rehydrates(client, ledger):
    instance = start_ledger(client, ledger)
    wait_for(lambda: len(ledger_lines(ledger)) == 2, 20)  # step-1 in flight
    ray.kill(
        ray.get_actor(actor_name("ledger", instance.id), namespace=DEFAULT_NAMESPACE),
        no_restart=True,
    )
    assert instance.wait(40).output == 3
    assert_each_step_once_but_the_killed_one(ledger, instance.id, killed_step=1)
    attempts = instance.describe().steps[1].attempts
    assert attempts[0].error.name == "Interrupted" and attempts[-1].success


def test_kill_9_of_instance_process_mid_step_rehydrates(engine, client, ledger):
    instance = start_ledger(client, ledger)
    wait_for(lambda: len(ledger_lines(ledger)) == 2, 20)
    pid = ray.get(engine.supervisor.actor_pid.remote("ledger", instance.id))
    os.kill(pid, signal.SIGKILL)
    assert instance.wait(40).output == 3
    assert_each_step_once_but_the_killed_one(ledger, instance.id, killed_step=1)


def _kill_supervisor(engine, how: str) -> None:
    if how == "ray.kill":
        ray.kill(engine.supervisor, no_restart=False)
    else:
        os.kill(ray.get(engine.supervisor.pid.remote()), signal.SIGKILL)


@pytest.mark.parametrize("how", ["ray.kill", "kill -9"])
def test_supervisor_restarts_and_readopts_live_instances(engine, placed_client, ledger, how):
    client = placed_client  # dedicated actors and shared hosts are both re-adopted
    running = start_ledger(client, ledger)
    sleeper = start_ledger(client, ledger + ".sleep", steps=2, step_seconds=0.05, sleep=3)
    wait_for(lambda: len(ledger_lines(ledger)) == 2, 20)
    wait_for(lambda: sleeper.status().status.value == "waiting", 20)
    old_pid = ray.get(engine.supervisor.pid.remote())
    _kill_supervisor(engine, how)
    # Calls during the restart are retried by the transport.
    assert running.wait(60).output == 3
    assert sleeper.wait(60).output == 1
    new_pid = ray.get(ray.get_actor(SUPERVISOR_NAME, namespace=DEFAULT_NAMESPACE).pid.remote())
    assert new_pid != old_pid
    # The live instance was re-adopted, not restarted: every step ran once.
    lines = ledger_lines(ledger)
    assert all(lines.count(f"{running.id} step-{i}") == 1 for i in range(3)), lines


DRIVER = """
import json, sys, time
from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.runtime.local import start_local
from tests.conftest import TEST_WORKFLOWS

storage, phase, ledger = sys.argv[1], sys.argv[2], sys.argv[3]
config = EngineConfig(storage=storage, hibernate_after=1.0, max_running=2,
    workflows=tuple(WorkflowSpec.of(n, c) for n, c in TEST_WORKFLOWS.items()))
engine = start_local(config)
ledger_wf = engine.client.workflow("ledger")
if phase == "first":
    p = {"ledger": ledger, "steps": 3, "step_seconds": 1.0}
    ledger_wf.create(id="running-a", params=p)
    ledger_wf.create(id="running-b", params=p)
    ledger_wf.create(id="queued", params=p)
    ledger_wf.create(id="sleeping", params={"ledger": ledger, "steps": 2, "step_seconds": 0.05, "sleep": 4})
    engine.client.workflow("waiter").create(id="waiting", params={"type": "go"})
    print("created", flush=True)
    time.sleep(600)
else:
    waiter = engine.client.workflow("waiter").get("waiting")
    waiter.send_event("go", "after restart")
    out = {}
    for wf, i in [("ledger", "running-a"), ("ledger", "running-b"), ("ledger", "queued"),
                  ("ledger", "sleeping"), ("waiter", "waiting")]:
        s = engine.client.workflow(wf).get(i).wait(90)
        out[i] = [s.status.value, s.output]
    print(json.dumps(out), flush=True)
    engine.shutdown()
"""


def test_whole_runtime_restart_continues_every_non_final_instance(tmp_path):
    storage, ledger = str(tmp_path / "storage"), str(tmp_path / "ledger.txt")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-c", DRIVER, storage]
    first = subprocess.Popen(
        [*cmd, "first", ledger],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert first.stdout.readline().strip() == "created"
        # Kill mid-flight: the two running instances are inside a step.
        wait_for(lambda: len(ledger_lines(ledger)) >= 3, 40)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    second = subprocess.run(
        [*cmd, "second", ledger], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150
    )
    assert second.returncode == 0, second.stderr[-3000:]
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result == {
        "running-a": ["complete", 3],
        "running-b": ["complete", 3],
        "queued": ["complete", 3],
        "sleeping": ["complete", 1],
        "waiting": ["complete", "after restart"],
    }
    lines = ledger_lines(ledger)
    for instance_id, steps in [("running-a", 3), ("running-b", 3), ("queued", 3), ("sleeping", 2)]:
        for i in range(steps):
            assert 1 <= lines.count(f"{instance_id} step-{i}") <= 2, lines
        assert sum(lines.count(f"{instance_id} step-{i}") for i in range(steps)) <= steps + 1
