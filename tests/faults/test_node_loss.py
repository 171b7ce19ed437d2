"""Lose a worker node of a multi-node Ray while it hosts instance actors.

The cluster (``ray.cluster_utils.Cluster``: a head and two worker nodes on
this machine, sharing the storage folder as a cluster shares a mounted path)
runs in a subprocess of its own, so it does not clash with the session's Ray.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.faults.conftest import ROOT, record_figures
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240), pytest.mark.slow]

SCENARIO = "worker node removed from a 3-node Ray cluster"
INSTANCES, STEPS = 6, 8

SCRIPT = """
import json, sys, time
import ray
from ray._private import state
from ray.cluster_utils import Cluster
from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.runtime.local import start_local
from tests.workflows import Ledger, ledger_lines

storage, ledger, root, instances, steps = sys.argv[1:6]
instances, steps = int(instances), int(steps)
# Dead nodes are noticed in about a second (the default is tens of seconds).
fast = {"health_check_period_ms": 500, "health_check_failure_threshold": 2,
        "health_check_initial_delay_ms": 0}
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": fast})
workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
cluster.wait_for_nodes()
ray.init(address=cluster.address, namespace="pyflow", log_to_driver=False,
         runtime_env={"env_vars": {"PYTHONPATH": root}})
config = EngineConfig(storage=storage, hibernate_after=1.0, max_running=16,
                      workflows=(WorkflowSpec.of("ledger", Ledger),))
engine = start_local(config)
ids = [f"node-{n}" for n in range(instances)]
engine.client.workflow("ledger").create_batch(
    [{"id": i, "params": {"ledger": ledger, "steps": steps, "step_seconds": 0.4}} for i in ids])

def placement():
    where = {}
    for info in state.actors().values():
        if info["State"] == "ALIVE" and (info.get("Name") or "").startswith("wf/ledger/"):
            where[info["Name"].split("/")[-1]] = info["Address"]["NodeID"]
    return where

worker_ids = {w.node_id: w for w in workers}
deadline = time.time() + 60
while True:
    where = placement()
    on_workers = [i for i, n in where.items() if n in worker_ids]
    lines = ledger_lines(ledger)
    if on_workers and all(sum(l.startswith(i + " ") for l in lines) for i in on_workers):
        break
    assert time.time() < deadline, ("no instance actor running on a worker node", where)
    time.sleep(0.1)
counts = {}
for i in on_workers:
    counts[where[i]] = counts.get(where[i], 0) + 1
victim = max(counts, key=counts.get)
moved = sorted(i for i in on_workers if where[i] == victim)
cluster.remove_node(worker_ids[victim], allow_graceful=False)
removed_at = time.time()
out = {}
for i in ids:
    s = engine.client.workflow("ledger").get(i).wait(150)
    out[i] = [s.status.value, s.output]
after = placement()
print("RESULT " + json.dumps({"results": out, "moved": moved, "victim": victim,
                  "still_on_victim": [i for i, n in after.items() if n == victim],
                  "nodes": len(ray.nodes())}), flush=True)
ray.shutdown()
cluster.shutdown()
"""


def test_removing_a_worker_node_moves_its_instances_to_other_nodes(tmp_path):
    storage, ledger = str(tmp_path / "storage"), str(tmp_path / "ledger.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, storage, ledger, str(ROOT), str(INSTANCES), str(STEPS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: everything it starts, we can stop
    )
    try:
        stdout, stderr = proc.communicate(timeout=200)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
    assert proc.returncode == 0, stderr[-4000:]
    found = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert found, (stdout[-2000:], stderr[-4000:])
    report = json.loads(found[-1][len("RESULT ") :])
    results = report["results"]
    expected = sum(range(STEPS))
    lost = [
        i for i, (status, output) in results.items() if [status, output] != ["complete", expected]
    ]
    lines = ledger_lines(ledger)
    extra = sum(lines.count(f"{i} step-{s}") - 1 for i in results for s in range(STEPS))
    record_figures(
        SCENARIO,
        nodes=3,
        node_losses=1,
        kills=1,
        instances=INSTANCES,
        instances_moved=len(report["moved"]),
        lost=len(lost),
        extra_ledger_lines=extra,
        seconds=round(time.monotonic() - started, 1),
    )
    assert report["moved"], "no instance actor was on the removed node"
    assert not lost, results
    assert report["still_on_victim"] == []
    for i in results:
        for s in range(STEPS):
            count = lines.count(f"{i} step-{s}")
            assert count >= 1, (i, s)
            # Only the instances that lost their node may have run a step twice
            # (the attempt in flight), and at most that one step.
            assert count == 1 or i in report["moved"], (i, s, count)
    assert extra <= len(report["moved"])
