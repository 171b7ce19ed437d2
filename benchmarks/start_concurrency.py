"""Dedicated throughput at concurrency limit K: CPU-s per activation in every process,
and how many actor processes start at once.

Runs ``make bench-quick``'s dedicated throughput workload (16 x 3 steps) at each
K and reports per instance the CPU-seconds spent by the instance actors'
worker processes (sampled every 20 ms from ``/proc/<pid>/stat``, so a process
that started and died during the run counts: the raylet's counters of its
reaped children showed none of them here), the raylet, the GCS, the
supervisor and this driver; and the most worker processes seen starting at
once (under 0.3 CPU-s, not yet through ``import ray`` and the engine). With
``--starts``, each K runs once per ``actor_starts`` value given (an engine
setting tried to cap the starts in flight; docs/performance-notes.md,
"Many starts admitted at once"); runs alternate, to compare on a busy machine.

    flock /work/wt/bench.lock nice -n 5 .venv/bin/python -m benchmarks.start_concurrency \\
        --ks 2 8 32 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import ray

from .host_profile import _ray_pids
from .pyflow_bench import PyflowBench
from .sizes import QUICK

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.02
STARTING_CPU = 0.3  # CPU-s a worker has spent before it is through its imports
SETTLE_SECONDS = 2.0  # after a run: its actors let go


def cpu_seconds(pid: int) -> float:
    """User + system CPU-s of a live process (raises OSError once it is gone)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Workers:
    """Samples the raylet's worker processes (all but ``skip``) while a run goes on."""

    def __init__(self, raylet: int, skip: int) -> None:
        self.raylet, self.skip = raylet, skip
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.most_starting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        for pid in self._pids():
            self.base[pid] = self.last[pid] = self._cpu(pid) or 0.0
        self._before = set(self.base)

    def _pids(self) -> list[int]:
        return [c.pid for c in psutil.Process(self.raylet).children() if c.pid != self.skip]

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            return cpu_seconds(pid)
        except OSError:
            return None

    def _sample(self) -> None:
        while not self._stop.is_set():
            starting = 0
            for pid in self._pids():
                cpu = self._cpu(pid)
                if cpu is None:
                    continue
                self.base.setdefault(pid, 0.0)
                self.last[pid] = cpu
                starting += pid not in self._before and cpu < STARTING_CPU
            self.most_starting = max(self.most_starting, starting)
            time.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu(self) -> float:
        return sum(self.last[pid] - self.base[pid] for pid in self.last)


def profile(bench: PyflowBench, k: int, starts: int | None) -> dict[str, Any]:
    assert bench.engine is not None
    if starts is not None:
        bench.configure(actor_starts=starts)
    supervisor = int(ray.get(bench.engine.supervisor.pid.remote()))
    pids = {**_ray_pids(), "supervisor": supervisor, "driver": os.getpid()}
    pids = {name: pids[name] for name in ("ray:raylet", "ray:gcs_server", "supervisor", "driver")}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    with Workers(pids["ray:raylet"], supervisor) as workers:
        record = bench.throughput(k)
        time.sleep(SETTLE_SECONDS)
    n = record["instances"]
    cpu = {"workers": workers.cpu() / n}
    cpu |= {name: (cpu_seconds(pid) - before[name]) / n for name, pid in pids.items()}
    cpu["total"] = sum(cpu.values())
    return {
        "k": k,
        "actor_starts": starts,
        "instances_per_second": round(record["instances_per_second"], 2),
        "most_workers_starting": workers.most_starting,
        "cpu_s_per_instance": {name: round(s, 3) for name, s in cpu.items()},
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.start_concurrency")
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--rounds", type=int, default=1, help="passes over the Ks")
    parser.add_argument("--starts", type=int, nargs="*", default=[],
                        help="actor_starts values to alternate (an engine that has it)")  # fmt: skip
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pyflow-start-concurrency-"))
    bench = PyflowBench(replace(QUICK, placements=("dedicated",)), work / "pyflow", [])
    try:
        bench.start()
        bench.throughput(2)  # warm-up: the first run pays for module imports
        for _ in range(args.rounds):
            for k in args.ks:
                for starts in args.starts or [None]:
                    print(json.dumps(profile(bench, k, starts)), flush=True)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
