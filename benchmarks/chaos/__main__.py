"""``python -m benchmarks.chaos --minutes 3 --name chaos-quick`` (``make chaos``,
``make chaos-quick``): the soak from start to verdict.

It mounts its small filesystem (root only: without it the disk kinds are
skipped and the figures say so), starts the runtime on it, runs the workload
and the faults for ``--minutes`` (longer, up to twice that, until every
kind of fault was made once and ``--kills`` kills were made), stops the faults, waits for the runtime to be
whole, sends what is owed, drains while the work goes on (:mod:`.drain`),
checks, writes the figures and stops everything it started. A failing run prints its seed (``--seed`` replays the
same choices; the faults' moments still depend on timing).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .checker import Checker
from .drain import Drain
from .faults import Faults
from .pace import Pace
from .report import RESULTS, write_report
from .runtime import TOKEN, Runtime
from .slots import SlotWatch
from .storage import SmallDisk, StorageFault
from .workload import WORKFLOWS, CallLog, Rest, Tracked, Workload

MAX_RUNNING = 8


def status_reader(rest: Rest) -> Any:
    def status_of(instance_id: str, tracked: Tracked) -> dict[str, Any] | None:
        answer = rest.call("GET", f"/{tracked.workflow}/instances/{instance_id}/status")
        return answer.result if answer.outcome == "accepted" else None

    return status_of


def listed(rest: Rest) -> list[tuple[str, str]]:
    """Every (workflow, id) the engine lists, page by page."""
    out: list[tuple[str, str]] = []
    for workflow, _ in WORKFLOWS:
        page = 1
        while True:
            answer = rest.call("GET", f"/{workflow}/instances?per_page=100&page={page}")
            rows = answer.result or []
            out += [(workflow, str(row["id"])) for row in rows]
            if len(rows) < 100:
                break
            page += 1
    return out


def run(
    minutes: float,
    seed: int,
    name: str,
    nodes: int,
    gap: tuple[float, float],
    results: Path,
    pace: Pace = Pace(),
    kills_goal: int = 0,
) -> int:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="pyflow-chaos-"))
    disk: SmallDisk | None = SmallDisk(work / "disk", "512m")
    try:
        assert disk is not None
        disk.mount()
        storage = disk.folder
    except StorageFault as exc:
        print(f"no small filesystem ({exc}): disk full and read-only are skipped", file=sys.stderr)
        disk, storage = None, work / "storage"
    offset_file = work / "clock-offset"
    runtime = Runtime(work, storage, offset_file, nodes)
    runtime.write_config(list(WORKFLOWS), MAX_RUNNING)
    log = CallLog(work / "calls.jsonl")
    rest = Rest(TOKEN)
    workload = Workload(rest, rng, work / "ledger.txt", log)
    faults = Faults(runtime, disk, workload, random.Random(seed + 1), log, offset_file, gap, pace)
    began = time.monotonic()
    try:
        runtime.start()
        rest.url = runtime.url
        slots = SlotWatch(rest, MAX_RUNNING)
        slots.start()
        began_faults = time.monotonic()
        stop = threading.Event()
        killer = threading.Thread(target=faults.run, args=(stop,), daemon=True)
        killer.start()
        if pace.kills_per_minute > 0:  # the live processes, asked in the background
            threading.Thread(target=faults.watch, args=(stop,), daemon=True).start()
        while (elapsed := time.monotonic() - began_faults) < minutes * 60 or (
            (faults.unmade() or sum(faults.kills.values()) < kills_goal)
            and elapsed < minutes * 60 * 2  # every kind at least once, the kills asked for
        ):
            workload.step()
            time.sleep(rng.uniform(0.02, 0.3))
        stop.set()
        faults.ended = time.monotonic()
        killer.join(600)
        runtime.ensure_whole()
        rest.url = runtime.url
        drain = Drain(work / "ledger.txt")
        workload.finish(drain.over)
        checker = Checker(
            workload.instances, faults.windows, faults.offsets, work / "ledger.txt", slots.last_full
        )
        verdict = checker.judge(status_reader(rest), listed(rest), drain.over)
        slots.stop()
    finally:
        runtime.stop()
        if disk is not None:
            disk.unmount()
    seconds = time.monotonic() - began
    has_disk = disk is not None
    report = write_report(
        name,
        seed,
        minutes,
        seconds,
        workload,
        faults,
        verdict,
        has_disk,
        results,
        drain,
        kills_goal,
    )
    print(report)
    if verdict.failed or rest.server_errors():
        print(f"chaos FAILED: replay with --seed {seed} (run folder kept: {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("CHAOS_MINUTES", 20)))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--name", default="chaos")
    parser.add_argument("--nodes", type=int, default=2, help="Ray worker nodes beside the head")
    parser.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(0.05, 0.5),
        metavar=("MIN", "MAX"),
        help="seconds between two faults (uniform)",
    )
    parser.add_argument(
        "--kills-per-minute",
        type=float,
        default=float(os.environ.get("CHAOS_KILLS_PER_MINUTE", 0)),
        help="a target: cheap kills come several at a time and costly faults less often"
        " (0: one process a fault, the quick run's pace)",
    )
    parser.add_argument(
        "--kills",
        type=int,
        default=int(os.environ.get("CHAOS_KILLS", 0)),
        help="faults go on past --minutes until this many kills were made (up to twice"
        " --minutes in all)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures go")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    pace = Pace(args.kills_per_minute)
    return run(
        args.minutes, seed, args.name, args.nodes, tuple(args.gap), args.results, pace, args.kills
    )


if __name__ == "__main__":
    raise SystemExit(main())
