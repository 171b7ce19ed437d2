"""Two small measurements behind docs/performance-notes.md ("Ray's levers", "The dedicated floor").

``python -m benchmarks.stock_probe start [--stock] [--runs N] [--gap S]``: a
bare actor (created by a detached actor, with the instance actors' options)
created and called once, cold (Ray's default) or on an idle worker the raylet
prestarted (``PrestartWorkers``, as the engine's worker stock asks for it):
wall p50 and the actor process's CPU-s.

``python -m benchmarks.stock_probe phases [--stock N] [--runs N] [--gap S]``:
where a lone dedicated create -> complete of a 1-step instance spends its
time, from the engine's timestamps and the instance's own: registry insert,
the actor up and the workflow class loaded, journal open and start commit,
the step, the result and completion notice, the client's poll.

``python -m benchmarks.stock_probe floor [--instances N] [--k K]``: CPU-s per
dedicated activation of a 3-step instance in every process: the instance
actor's own (the workflow returns ``time.process_time()`` at its end) and the
long-lived ones (raylet, GCS, supervisor, driver, Ray's agents: their CPU
times before and after), and the rate that 2 cores allow at that cost.

Run each in its own process, niced (``nice -n 10``) on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

import psutil
import ray

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.runtime.local import start_local


class ThreeSteps(WorkflowEntrypoint):
    """Three no-op steps; returns its process's own CPU-s at the end."""

    async def run(self, event: Any, step: Any) -> dict[str, float]:
        for i in range(3):

            @step.do(f"step {i}")
            async def noop(i: int = i) -> int:
                return i

            await noop()
        return {"pid": os.getpid(), "cpu": time.process_time()}


LOADED_AT = time.time()  # in an instance actor: when its workflow class was loaded


class OneStep(WorkflowEntrypoint):
    """One no-op step; returns when its process started, loaded it and ran it."""

    async def run(self, event: Any, step: Any) -> dict[str, float]:
        entered = time.time()

        @step.do("noop")
        async def noop() -> int:
            return 1

        await noop()
        process = psutil.Process()
        return {
            "process_started": process.create_time(),
            "loaded": LOADED_AT,
            "run_entered": entered,
            "cpu": time.process_time(),
        }


@ray.remote(num_cpus=0)
class Bare:
    def ping(self) -> float:
        return time.process_time()


@ray.remote(num_cpus=0)
class Creator:
    """Creates actors as the supervisor does: from a detached actor, same options."""

    async def make(self, name: str) -> tuple[float, float]:
        began = time.perf_counter()
        actor = Bare.options(
            name=name, lifetime="detached", max_concurrency=64, scheduling_strategy="SPREAD"
        ).remote()
        cpu = await actor.ping.remote()
        took = time.perf_counter() - began
        ray.kill(actor)
        return took, cpu


def prestart(count: int) -> None:
    """Ask this node's raylet for ``count`` idle workers of this job."""
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

    here = ray.get_runtime_context().get_node_id()
    node = next(n for n in ray.nodes() if n["NodeID"] == here)
    address = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
    stub = node_manager_pb2_grpc.NodeManagerServiceStub(init_grpc_channel(address))
    request = node_manager_pb2.PrestartWorkersRequest(
        language=common_pb2.Language.PYTHON,
        job_id=bytes.fromhex(ray.get_runtime_context().get_job_id()),
        keep_alive_duration_secs=120,
        num_workers=count,
    )
    request.runtime_env_info.serialized_runtime_env = "{}"
    stub.PrestartWorkers(request, timeout=10)


def start(stock: bool, runs: int, gap: float) -> dict[str, Any]:
    ray.init(address="local", include_dashboard=False, log_to_driver=False, namespace="probe")
    try:
        creator = Creator.options(lifetime="detached", name="creator").remote()
        ray.get(creator.make.remote("first"))  # after the raylet's own prestarted workers
        times, cpus = [], []
        for run in range(runs):
            if stock:
                prestart(1)
            time.sleep(gap)  # a lone create: the stock has had time to refill
            took, cpu = ray.get(creator.make.remote(f"bare-{run}"))
            times.append(took)
            cpus.append(cpu)
        return {
            "stock": stock,
            "seconds_p50": statistics.median(times),
            "seconds": [round(t, 3) for t in times],
            "actor_cpu_seconds_p50": statistics.median(cpus),
            "load": os.getloadavg()[0],
        }
    finally:
        ray.shutdown()


def phases(stock: int, runs: int, gap: float) -> dict[str, Any]:
    from benchmarks.stock_probe import OneStep as importable  # not __main__'s

    engine = start_local(
        storage=tempfile.mkdtemp(), workflows={"one": importable}, worker_stock=stock
    )
    try:
        workflow = engine.client.workflow("one")
        rows: list[dict[str, float]] = []
        for run in range(runs + 1):  # the first one imports the client's path too
            time.sleep(gap)  # a lone create: the stock has had time to refill
            began = time.time()
            instance = workflow.create(params={})
            while not (status := instance.status()).is_final:
                time.sleep(0.01)
            seen = time.time()
            out = status.output
            step = instance.describe().steps[0]
            assert status.started_at is not None and status.ended_at is not None
            if run == 0:
                continue
            rows.append(
                {
                    "total (created -> ended)": status.ended_at - status.created_at,
                    "client create call -> created": status.created_at - began,
                    "created -> started (queue)": status.started_at - status.created_at,
                    "started -> class loaded (actor up)": out["loaded"] - status.started_at,
                    "class loaded -> run() (journal open, start commit)": out["run_entered"]
                    - out["loaded"],
                    "run() -> step start": step.start - out["run_entered"],
                    "step": (step.end or step.start) - step.start,
                    "step end -> ended (result, notice)": status.ended_at
                    - (step.end or step.start),
                    "ended -> client saw it (10 ms poll)": seen - status.ended_at,
                    "worker age at start (stocked if > 0)": status.started_at
                    - out["process_started"],
                    "actor process CPU-s": out["cpu"],
                }
            )
        stats = engine.stats()
        return {
            "stock": stock,
            "runs": runs,
            "p50": {k: round(statistics.median(r[k] for r in rows), 4) for k in rows[0]},
            "stock_stats": {k: v for k, v in stats.items() if k.startswith("worker_stock")},
            "load": os.getloadavg()[0],
        }
    finally:
        engine.shutdown()


def floor(instances: int, k: int) -> dict[str, Any]:
    from benchmarks.stock_probe import ThreeSteps as importable  # not __main__'s

    engine = start_local(storage=tempfile.mkdtemp(), workflows={"three": importable}, max_running=k)
    try:
        time.sleep(8)  # the engine settled, its stock up
        before = _tree_cpu()
        began = time.perf_counter()
        batch = engine.client.workflow("three").create_batch([{} for _ in range(instances)])
        while not all(i.status().is_final for i in batch):
            time.sleep(0.1)
        wall = time.perf_counter() - began
        after = _tree_cpu()
        own = [float(i.status().output["cpu"]) for i in batch]
        others = {
            name: round((cpu - before[pid][1]) / instances, 4)
            for pid, (name, cpu) in after.items()
            if pid in before and cpu - before[pid][1] > 0.005
        }
        per_instance = statistics.mean(own) + sum(others.values())
        cores = os.cpu_count() or 1
        return {
            "instances": instances,
            "k": k,
            "instances_per_second": instances / wall,
            "actor_own_cpu_seconds": statistics.mean(own),
            "other_processes_cpu_seconds": others,
            "cpu_seconds_per_instance": per_instance,
            "floor_instances_per_second": cores / per_instance,
            "load": os.getloadavg()[0],
        }
    finally:
        engine.shutdown()


def _tree_cpu() -> dict[int, tuple[str, float]]:
    """CPU-s of this process and every process under it (Ray's), by pid."""
    me = psutil.Process()
    out = {}
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
            out[process.pid] = (f"{process.name()}:{process.pid}", times.user + times.system)
        except psutil.Error:
            continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stock_probe")
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("start")
    one.add_argument("--stock", action="store_true")
    one.add_argument("--runs", type=int, default=6)
    one.add_argument("--gap", type=float, default=2.0)
    three = sub.add_parser("phases")
    three.add_argument("--stock", type=int, default=2)
    three.add_argument("--runs", type=int, default=8)
    three.add_argument("--gap", type=float, default=2.0)
    two = sub.add_parser("floor")
    two.add_argument("--instances", type=int, default=16)
    two.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    if args.what == "start":
        result = start(args.stock, args.runs, args.gap)
    elif args.what == "phases":
        result = phases(args.stock, args.runs, args.gap)
    else:
        result = floor(args.instances, args.k)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
