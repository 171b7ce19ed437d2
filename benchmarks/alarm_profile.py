"""Where a mass wake of dedicated instances spends its CPU (issue 9, 1,000 alarms).

Runs ``make bench-quick``'s alarms workload (N dedicated sleepers, one alarm),
which records the wake's CPU in every process (``wake_cpu.py``: CPU-s per wake
and per actor process started, the processes started against the instances
woken, the machine's CPU split into ours, other processes' and idle, and the
floor those set), with the sleepers reaching their sleep at ``--rate`` a
second (a shorter run than the bench's, which sets it from Ray's baseline).
With ``--py-spy``, the supervisor's own time from the alarm on, by function.

    flock /work/wt/bench.lock nice -n 5 .venv/bin/python -m benchmarks.alarm_profile \\
        --alarms 300 [--py-spy]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray

from . import speed_bench
from .host_profile import _py_spy, _top
from .pyflow_bench import PyflowBench
from .sizes import QUICK

REACH_RATE = 2.0  # instances/s to reach their sleep (under the activation floor: margin)


def profile(bench: PyflowBench, n: int, rate: float, spy: bool, folder: Path) -> dict[str, Any]:
    assert bench.engine is not None
    spies: list[Any] = []
    if spy:
        supervisor = int(ray.get(bench.engine.supervisor.pid.remote()))
        args = (bench, supervisor, n, folder, spies)
        threading.Thread(target=_spy_at_alarm, args=args, daemon=True).start()
    record = speed_bench.alarms(bench, n, rate, "dedicated")
    if spies:
        spies[0].wait()
        record["supervisor_profile"] = _top(folder / "supervisor.raw")
    return record


def _spy_at_alarm(bench: PyflowBench, pid: int, n: int, folder: Path, spies: list[Any]) -> None:
    """py-spy on the supervisor from the moment every sleeper waits (the alarm follows)."""
    while bench._count("sleeper", "waiting") < n:
        time.sleep(0.5)
    process = _py_spy(pid, max(60.0, n / 2.0), folder / "supervisor.raw")
    if process is not None:
        spies.append(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alarm_profile")
    parser.add_argument("--alarms", type=int, default=300)
    parser.add_argument("--rate", type=float, default=REACH_RATE, help="instances/s to sleep")
    parser.add_argument("--py-spy", action="store_true", help="sample the supervisor")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pyflow-alarm-profile-"))
    bench = PyflowBench(replace(QUICK, placements=("dedicated",)), work / "pyflow", [])
    try:
        bench.start()
        record = profile(bench, args.alarms, args.rate, args.py_spy, work)
        print(json.dumps(record), flush=True)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
