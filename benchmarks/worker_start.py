"""What a Ray worker process costs to start here, phase by phase, and with which levers.

``python -m benchmarks.worker_start phases [--runs N] [--gc-off]``: fresh
interpreters that do what a Ray worker does before it runs an instance
actor, timing each phase in CPU-s (``time.process_time()``): the interpreter
up (site, ``.pth`` files), ``import ray``, the rest of Ray's worker script's
imports, Ray's serializer add-ons (Ray imports pydantic, pydantic.v1 and
starlette for them at its first task), the instance actor's module. No Ray
is started. ``--gc-off`` runs them with the cyclic GC off, to show its share.

``python -m benchmarks.worker_start actors [--runs N] [--gap S] [--runtime-env]
[--no-levers]``: starts a Ray the way ``start_local`` starts one (its levers,
the workers' ``PYTHONPATH`` in their environment) and creates, calls once and
kills N detached actors one after another, each with the instance actors'
options and importing their module: the worker process's own CPU-s at its
first answer (``/proc/<pid>/stat``), the CPU-s of every other process of the
Ray (GCS, raylet, agents, log monitor, this driver) per actor, and the wall
time from create to first answer. ``--runtime-env`` passes the path as a job
``runtime_env`` instead, as a job joining a ``ray start`` cluster used to:
Ray then starts every worker through its ``setup_worker.py`` shim.
``--no-levers`` leaves out ``start_local``'s ``_system_config``.

Run it under the bench lock (``flock /work/wt/bench.lock nice -n 5 ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

# Run in a fresh interpreter: the process's CPU-s after each phase of a worker's start.
PHASES_SCRIPT = """
import json, sys, time
marks = [time.process_time()]
if "--gc-off" in sys.argv:
    import gc; gc.disable()
import ray
marks.append(time.process_time())
import ray._private.node, ray._private.parameter, ray._private.runtime_env.setup_hook, ray.actor
marks.append(time.process_time())
from ray.util import serialization_addons
class Context:
    def _register_cloudpickle_serializer(self, *args, **kwargs): pass
serialization_addons.apply(Context())
marks.append(time.process_time())
import pyflow_actors.runtime.instance
marks.append(time.process_time())
print(json.dumps([marks[0]] + [b - a for a, b in zip(marks, marks[1:])]))
"""

PHASE_NAMES = (
    "interpreter up (site, .pth files)",
    "import ray",
    "the rest of Ray's worker script's imports",
    "Ray's serializer add-ons (pydantic, pydantic.v1, starlette)",
    "the instance actor's module (pyflow_actors.runtime.instance)",
)


def phases(runs: int, gc_off: bool) -> dict[str, Any]:
    """Median CPU-s of each phase over ``runs`` fresh interpreters."""
    samples: list[list[float]] = []
    for _ in range(runs):
        args = [sys.executable, "-c", PHASES_SCRIPT, *(["--gc-off"] if gc_off else [])]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        samples.append(json.loads(out.strip().splitlines()[-1]))
    medians = [statistics.median(column) for column in zip(*samples, strict=True)]
    result = dict(zip(PHASE_NAMES, (round(m, 4) for m in medians), strict=True))
    result["total"] = round(sum(medians), 4)
    return {"workload": "worker start phases", "gc_off": gc_off, "runs": runs, "cpu_s": result}


def _cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc (works for any process we may read)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ray_processes() -> dict[int, tuple[str, float]]:
    """Name and CPU-s of every process of the Ray this driver started, and of the driver."""
    import psutil

    me = psutil.Process()
    seen = {me.pid: ("this driver", _cpu_s(me.pid))}
    for child in me.children(recursive=True):
        try:
            seen[child.pid] = (_label(child), _cpu_s(child.pid))
        except (FileNotFoundError, ProcessLookupError, psutil.Error):
            continue
    return seen


def _label(process: Any) -> str:
    """gcs_server, raylet, ray::DashboardAgent, or a Python script's name (log_monitor.py)."""
    command = process.cmdline()
    scripts = [os.path.basename(arg) for arg in command[1:3] if arg.endswith(".py")]
    return scripts[0] if scripts else str(process.name())


def actors(runs: int, gap: float, runtime_env: bool, levers: bool) -> dict[str, Any]:
    """Create, call once and kill ``runs`` actors one at a time; CPU-s per actor."""
    import ray

    from pyflow_actors.runtime.local import ray_levers

    path = os.pathsep.join(dict.fromkeys(p for p in (os.getcwd(), *sys.path) if os.path.isdir(p)))
    options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if runtime_env:
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    else:
        os.environ["PYTHONPATH"] = path  # the raylet's workers inherit it
    if levers:
        options.update(ray_levers())
    ray.init(log_to_driver=False, namespace="worker-start", **options)
    try:
        probe = ray.remote(FirstCall)
        for i in range(os.cpu_count() or 1):  # the raylet's own prestarted workers: not counted
            _one(probe, f"warm-{i}")
        time.sleep(gap)
        rows = [_measured(probe, f"probe-{i}", gap) for i in range(runs)]
    finally:
        ray.shutdown()
    worker = [r["worker_cpu_s"] for r in rows]
    others = [r["others_cpu_s"] for r in rows]
    wall = [r["wall_s"] for r in rows]
    labels = sorted(
        {key for row in rows for key in row} - {"worker_cpu_s", "others_cpu_s", "wall_s"}
    )
    others_mean = {k: round(sum(r.get(k, 0.0) for r in rows) / len(rows), 4) for k in labels}
    return {
        "workload": "worker start, actors one at a time",
        "runtime_env": runtime_env,
        "levers": levers,
        "runs": runs,
        "worker_cpu_s_p50": round(statistics.median(worker), 4),
        "others_cpu_s_p50": round(statistics.median(others), 4),
        "wall_s_p50": round(statistics.median(wall), 4),
        "others_cpu_s_mean_by_process": others_mean,
        "rows": rows,
    }


def _one(probe: Any, name: str) -> tuple[int, float, float]:
    """One actor created, called, killed: its pid, its CPU-s at its answer, the wall time."""
    import ray

    started = time.monotonic()
    actor = probe.options(**ACTOR_OPTIONS, name=name).remote()
    pid = ray.get(actor.first.remote())
    wall = time.monotonic() - started
    cpu = _cpu_s(pid)
    ray.kill(actor)
    return pid, cpu, wall


def _measured(probe: Any, name: str, gap: float) -> dict[str, float]:
    """One actor's start: its worker's CPU-s, and each other Ray process's CPU-s meanwhile."""
    before = _ray_processes()
    pid, cpu, wall = _one(probe, name)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(gap)
    after = _ray_processes()
    by_process: dict[str, float] = {}
    for p, (label, cpu_s) in after.items():
        if p != pid:
            spent = cpu_s - before.get(p, (label, 0.0))[1]
            by_process[label] = by_process.get(label, 0.0) + spent
    others = sum(by_process.values())
    return {"worker_cpu_s": cpu, "others_cpu_s": others, "wall_s": wall, **by_process}


# The options the supervisor gives a dedicated instance actor (supervisor/wrapper.py).
ACTOR_OPTIONS = {
    "lifetime": "detached",
    "num_cpus": 0,
    "max_restarts": 0,
    "max_concurrency": 64,
    "scheduling_strategy": "SPREAD",
}


class FirstCall:
    """An async actor, as the instance actor is, that imports the instance actor's module."""

    def __init__(self) -> None:
        import pyflow_actors.runtime.instance  # noqa: F401  (preloaded by the levers)

    async def first(self) -> int:
        return os.getpid()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_start")
    sub = parser.add_subparsers(dest="command", required=True)
    phase = sub.add_parser("phases", help="CPU-s of each phase of a worker's start, no Ray")
    phase.add_argument("--runs", type=int, default=7)
    phase.add_argument("--gc-off", action="store_true")
    actor = sub.add_parser("actors", help="actors created, called once, killed, one at a time")
    actor.add_argument("--runs", type=int, default=10)
    actor.add_argument("--gap", type=float, default=0.5)
    actor.add_argument("--runtime-env", action="store_true")
    actor.add_argument("--no-levers", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "phases":
        result = phases(args.runs, args.gc_off)
    else:
        result = actors(args.runs, args.gap, args.runtime_env, not args.no_levers)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
