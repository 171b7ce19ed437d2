"""The CPU a mass wake of dedicated instances costs, in every process, and the
machine's share of it (issue 9: 1,000 alarms due at once).

:class:`Sampler` reads, every ``SAMPLE_SECONDS``, the CPU-seconds of the
supervisor, the raylet, the GCS and this driver, and of every worker process
of the raylet (instance actors and idle stocked workers: sampled, so a worker
that came and went counts) from ``/proc/<pid>/stat``, with the machine's busy
and idle time from ``/proc/stat`` and the supervisor's counters.
:func:`figures` turns two moments (the alarm, the last wake-up) into the
record: CPU-s per wake and per actor process started, the processes started
against the instances woken, the machine's CPU split into ours, other
processes' and idle, and the floor those figures set.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psutil

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1
STATS_SECONDS = 2.0  # the supervisor's counters (a call on it: not too often)
STARTING_CPU = 0.3  # CPU-s a worker has spent before it is through its imports


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU-s of a live process (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and idle (with iowait) CPU-s since boot, all cores."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS, idle / TICKS


def engine_pids(engine: Any) -> dict[str, int]:
    """The supervisor, the raylet, the GCS and this driver of the bench's local Ray."""
    import ray

    from .host_profile import _ray_pids  # here: host_profile imports the bench

    ray_pids = _ray_pids()
    return {
        "supervisor": int(ray.get(engine.supervisor.pid.remote())),
        "raylet": ray_pids["ray:raylet"],
        "gcs": ray_pids["ray:gcs_server"],
        "driver": os.getpid(),
    }


class Sampler:
    """Cumulative CPU-s per process class, and the worker pids first seen, over time."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.fixed = engine_pids(engine)
        raylet = psutil.Process(self.fixed["raylet"])
        self.skip = set(self.fixed.values()) | {
            c.pid for c in raylet.children() if "Agent" in c.name()
        }
        self.workers: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last CPU)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stats: list[tuple[float, dict[str, Any]]] = []
        self.starting: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_stats = 0.0
        while not self._stop.wait(SAMPLE_SECONDS):
            now = time.time()
            try:
                children = [c.pid for c in psutil.Process(self.fixed["raylet"]).children()]
            except psutil.Error:
                children = []
            starting = 0
            for pid in children:
                cpu = None if pid in self.skip else cpu_seconds(pid)
                if cpu is not None:
                    self.workers[pid] = (self.workers.get(pid, (now, 0.0))[0], cpu)
                    starting += cpu < STARTING_CPU
            self.starting.append((now, starting))
            point = {name: cpu_seconds(pid) or 0.0 for name, pid in self.fixed.items()}
            point["workers"] = sum(cpu for _, cpu in self.workers.values())
            point["machine_busy"], point["machine_idle"] = machine_cpu()
            self.samples.append((now, point))
            if now >= next_stats:
                next_stats = now + STATS_SECONDS
                self.stats.append((now, self.engine.stats()))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, moment: float) -> dict[str, float]:
        return dict(min(self.samples, key=lambda s: abs(s[0] - moment))[1])


def _quantile_floor(q: float, n: int, warm: int, per_second: float) -> float:
    """When the wake-up at quantile ``q`` of ``n`` comes, if ``warm`` wake on time
    and the others at ``per_second`` from the alarm on."""
    return max(0.0, (q * n - warm) / per_second)


def figures(sampler: Sampler, alarm: float, ended: float, n: int) -> dict[str, Any]:
    """The wake's CPU, processes and floor, from the alarm to the last wake-up's end."""
    before, after = sampler.at(alarm), sampler.at(ended)
    machine = {k: after.pop(k) - before.pop(k) for k in ("machine_busy", "machine_idle")}
    spent = {name: after[name] - before[name] for name in after}
    ours = sum(spent.values())
    started = sum(1 for first, _ in sampler.workers.values() if alarm <= first <= ended)
    whole = machine["machine_busy"] + machine["machine_idle"] or 1.0
    cores = os.cpu_count() or 1
    per_start = ours / max(started, 1)
    warm = max(  # warm actors up or starting just before the alarm (stats every 2 s)
        (int(s.get("warm_actors") or 0) for t, s in sampler.stats if alarm - 3.0 <= t <= alarm),
        default=0,
    )
    per_second = cores / per_start
    return {
        "wake_seconds": round(ended - alarm, 1),
        "cpu_s_per_wake": {name: round(s / n, 3) for name, s in spent.items()}
        | {"total": round(ours / n, 3)},
        "actor_processes_started_in_wake": started,
        "most_processes_starting_at_once": max(
            (s for t, s in sampler.starting if alarm <= t <= ended), default=0
        ),
        "cpu_s_per_process_started": round(per_start, 3),
        "warm_at_alarm": warm,
        "machine_cpu_share": {  # of all cores over the wake
            "ours": round(ours / whole, 3),
            "other_processes": round((machine["machine_busy"] - ours) / whole, 3),
            "idle": round(machine["machine_idle"] / whole, 3),
        },
        # The floor: the warm wake on time, the others at cores / CPU-s per start.
        "floor_starts_per_second": round(per_second, 2),
        "floor_lateness_p50": round(_quantile_floor(0.5, n, warm, per_second), 1),
        "floor_lateness_p99": round(_quantile_floor(0.99, n, warm, per_second), 1),
    }
