"""Distributed mode on a multi-node Ray (``ray.cluster_utils.Cluster``, one machine).

Run as a subprocess, never inside a process that already has Ray:

    python -m benchmarks.cluster_bench check STORAGE
        3 nodes: the supervisor is on the head node; instances spread over the
        nodes; a hibernated instance whose node is removed rehydrates on another
        node; ``pyflow dev --address`` joins the cluster and serves it over HTTP.
    python -m benchmarks.cluster_bench throughput NODES INSTANCES STORAGE
        NODES nodes, INSTANCES instances x 3 steps at max_running 32: instances/s.

Each prints one JSON line. All nodes share this machine's cores and disk (the
shared storage path every node mounts in a real cluster), so the throughput
ratio shows the distribution overhead, not extra capacity.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import ray
from ray._private import state
from ray.cluster_utils import Cluster

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.constants import SUPERVISOR_NAME
from pyflow_actors.runtime.local import start_local

from .measure import wait_until
from .workflows import NoopSteps, WhereAmI

NAMESPACE = "pyflow-cluster"
REPO_ROOT = str(Path(__file__).resolve().parent.parent)


def start_cluster(nodes: int) -> Cluster:
    """A head node and ``nodes - 1`` workers, one logical CPU each."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        namespace=NAMESPACE,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": REPO_ROOT}},
        configure_logging=False,
    )
    return cluster


def engine_config(storage: Path, **changes: Any) -> EngineConfig:
    specs = (WorkflowSpec.of("where", WhereAmI), WorkflowSpec.of("noop", NoopSteps))
    return EngineConfig(
        storage=storage, namespace=NAMESPACE, hibernate_after=1.0, workflows=specs, **changes
    )


def actor_node(name: str) -> str:
    for actor in state.actors().values():
        if actor.get("Name") == name and actor.get("State") == "ALIVE":
            return actor["Address"]["NodeID"]
    raise LookupError(f"no live actor named {name!r}")


def check(storage: Path) -> dict[str, Any]:
    cluster = start_cluster(3)
    try:
        engine = start_local(engine_config(storage, max_running=16), ray_address=cluster.address)
        head = cluster.head_node.node_id
        supervisor_node = actor_node(SUPERVISOR_NAME)
        workflow = engine.client.workflow("where")
        instances = workflow.create_batch([{"params": {"sleep": 6}} for _ in range(6)])
        wait_until(
            lambda: all(i.status().status.value == "waiting" for i in instances),
            timeout=90,
            what="instances hibernated",
        )
        before = {i.id: i.describe().steps[0].output for i in instances}
        workers = {n.node_id: n for n in cluster.worker_nodes}
        victim = next(node for node in workers if node in before.values())
        cluster.remove_node(workers[victim])
        moved = [i for i in instances if before[i.id] == victim]
        for instance in instances:
            status = instance.wait(timeout=90)
            assert status.status.value == "complete", status
        after = {i.id: i.status().output["after"] for i in instances}
        gateway = dev_joins(cluster.address, storage)
        engine.client.close()
        return {
            "head_node": head,
            "supervisor_node": supervisor_node,
            "nodes_used": len(set(before.values())),
            "removed_node": victim,
            "moved": {i.id: [before[i.id], after[i.id]] for i in moved},
            "gateway": gateway,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


def dev_joins(address: str, storage: Path) -> dict[str, Any]:
    """``pyflow dev --address`` joins the running engine and serves it over HTTP."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = storage.parent / "pyflow-cluster.toml"
    config.write_text(
        "[[workflows]]\n"
        'name = "noop"\n'
        f'class_name = "{NoopSteps.__module__}:{NoopSteps.__qualname__}"\n'
        "[engine]\n"
        f'storage = "{storage}"\n'
        f'namespace = "{NAMESPACE}"\n'
        "max_running = 16\n"
    )
    env = {**os.environ, "PYFLOW_TOKEN": "cluster-token", "PYFLOW_ACCOUNT": "cluster"}
    pyflow = Path(sys.executable).with_name("pyflow")
    command = [str(pyflow), "dev", "--address", address, "--config", str(config)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )
    base = f"http://127.0.0.1:{port}/client/v4/accounts/cluster/workflows"
    http = httpx.Client(headers={"Authorization": "Bearer cluster-token"}, timeout=10)
    try:

        def listed() -> Any:
            try:
                response = http.get(base)
            except httpx.HTTPError:
                return None
            return response.json() if response.status_code == 200 else None

        body = wait_until(listed, timeout=90, interval=0.2, what="pyflow dev gateway up")
        created = http.post(f"{base}/noop/instances", json={"params": {"steps": 2}})
        created.raise_for_status()
        instance_id = created.json()["result"]["id"]

        def final() -> Any:
            result = http.get(f"{base}/noop/instances/{instance_id}").json()["result"]
            return result if result["status"] in ("complete", "errored", "terminated") else None

        result = wait_until(final, timeout=60, interval=0.1, what="instance via HTTP complete")
        return {
            "workflows": sorted(w["name"] for w in body["result"]),
            "instance_status": result["status"],
        }
    finally:
        http.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def throughput(nodes: int, instances: int, storage: Path) -> dict[str, Any]:
    cluster = start_cluster(nodes)
    try:
        engine = start_local(engine_config(storage, max_running=32), ray_address=cluster.address)
        workflow = engine.client.workflow("noop")
        began = time.perf_counter()
        created = []
        for chunk in range(0, instances, 100):
            created += workflow.create_batch(
                [{"params": {"steps": 3}} for _ in range(min(100, instances - chunk))]
            )
        wait_until(
            lambda: workflow.info().instances.get("complete", 0) >= instances,
            timeout=max(300.0, instances * 5.0),
            interval=0.1,
            what="instances complete",
        )
        elapsed = time.perf_counter() - began
        engine.client.close()
        return {
            "suite": "cluster",
            "workload": "throughput",
            "nodes": nodes,
            "instances": instances,
            "seconds": elapsed,
            "instances_per_second": instances / elapsed,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    command = sys.argv[1]
    if command == "check":
        result = check(Path(sys.argv[2]))
    elif command == "throughput":
        result = throughput(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {command!r}: use check or throughput")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
