"""The soak's figures: ``benchmarks/results/<name>.json`` and a short markdown table
(``<name>.md``, also printed)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from .checker import TOLERANCE, Verdict
from .drain import Drain
from .faults import Faults
from .workload import Workload

RESULTS = Path(__file__).resolve().parents[1] / "results"


def figures(
    name: str,
    seed: int,
    minutes: float,
    seconds: float,
    workload: Workload,
    faults: Faults,
    verdict: Verdict,
    disk: bool,
    drain: Drain | None = None,
    kills_goal: int = 0,
) -> dict[str, Any]:
    counts = workload.counts
    accepted = [t for t in workload.instances.values() if t.accepted]
    kills = dict(faults.counts)
    lateness = sorted(verdict.lateness)
    return {
        "name": name,
        "seed": seed,
        "minutes": minutes,
        "fault_minutes": round(faults.seconds_of_faults / 60, 1),
        "kills_goal": kills_goal or None,
        "seconds": round(seconds, 1),
        "drain_seconds": round(drain.seconds, 1) if drain is not None else None,
        "drain_ended_by": None if drain is None else "stall" if drain.stalled else "all final",
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],  # 2 cores, shared
        "faults": kills,
        "faults_total": sum(kills.values()),
        "kills": dict(faults.kills),  # kill -9 of a chosen process (a node, a runtime: 1)
        "kills_total": sum(faults.kills.values()),
        "processes_killed": dict(faults.processes),  # every process (a node's, a runtime's)
        "processes_killed_total": sum(faults.processes.values()),
        "kills_per_minute_target": faults.pace.kills_per_minute or None,
        "fault_seconds_each": {k: round(faults.seconds[k] / n, 2) for k, n in kills.items() if n},
        "faults_not_made": faults.fail_count,
        "kinds_never_made": faults.unmade(),
        "disk_kinds": "run" if disk else "skipped (no tmpfs: not root)",
        "instances": len(accepted),
        "instances_unsure": sum(1 for t in accepted if not t.certain),
        "creates": counts["create accepted"],
        "creates_refused": counts["create refused"],
        "events": sum(len(t.sent) for t in accepted),
        "controls": sum(counts[f"{a} accepted"] for a in ("pause", "resume", "terminate")),
        "terminated": sum(1 for t in accepted if t.terminated),
        "calls_unanswered": sum(n for k, n in counts.items() if k.endswith(("unsent", "unknown"))),
        "refusals": dict(workload.rest.answers),
        "refusals_by_call": dict(workload.rest.by_call),
        "not_found_calls": list(workload.rest.not_found),
        "answers_on_broken_storage": dict(faults.storage_errors),
        "server_errors": workload.rest.server_errors(),
        "steps_run": verdict.steps_run,
        "wake_ups": verdict.wake_ups,
        "wake_tolerance_seconds": TOLERANCE,
        "lateness_median": statistics.median(lateness) if lateness else None,
        "lateness_max": lateness[-1] if lateness else None,
        "wake_ups_waiting_for_a_slot": verdict.slot_waits,
        "late_wake_ups": len(verdict.late),
        "early_wake_ups": len(verdict.early),
        "doubled_wake_ups": len(verdict.doubled),
        "lost": len(verdict.lost),
        "wrong": len(verdict.wrong),
        "repeated": len(verdict.repeated),
        "duplicated": len(verdict.duplicated),
        "unsure_not_final": verdict.unsure_not_final,
        "problems": verdict.lost
        + verdict.wrong
        + verdict.repeated
        + verdict.duplicated
        + verdict.early
        + verdict.late
        + verdict.doubled,
    }


def table(data: dict[str, Any]) -> str:
    rows = [
        ("seed", data["seed"]),
        ("duration", f"{data['seconds']} s ({_fault_minutes(data)} min of faults, then the drain)"),
        ("drain", f"{data.get('drain_seconds')} s (ended: {data.get('drain_ended_by')})"),
        ("machine load at the end (1, 5, 15 min)", data["load_average_at_end"]),
        *((f"faults: {k}", n) for k, n in sorted(data["faults"].items())),
        *((f"kills: {k}", n) for k, n in sorted(data.get("kills", {}).items())),
        ("kills (each kill -9 of a chosen process)", data["kills_total"]),
        *(
            (f"processes killed: {k}", n)
            for k, n in sorted(data.get("processes_killed", {}).items())
        ),
        ("processes killed (every process a kill took down)", data.get("processes_killed_total")),
        ("instances accepted", data["instances"]),
        ("events accepted", data["events"]),
        ("step attempts", data["steps_run"]),
        ("wake-ups (late / early / doubled)", _wakes(data)),
        ("lost", data["lost"]),
        ("wrong state or output", data["wrong"]),
        ("committed steps run again", data["repeated"]),
        ("duplicated", data["duplicated"]),
        ("5xx other than 503", data["server_errors"]),
        *(
            (f"refused: {k}", n)
            for k, n in sorted(data.get("refusals_by_call", {}).items())
            if k.split()[1] == "404"
        ),
    ]
    lines = ["| figure | value |", "| --- | --- |"]
    return "\n".join(lines + [f"| {k} | {v} |" for k, v in rows])


def _fault_minutes(data: dict[str, Any]) -> Any:
    """The minutes faults were made (past ``--minutes`` when kinds or kills were owed)."""
    return data.get("fault_minutes") or data["minutes"]


def _wakes(data: dict[str, Any]) -> str:
    return (
        f"{data['wake_ups']} ({data['late_wake_ups']} / {data['early_wake_ups']} / "
        f"{data['doubled_wake_ups']}; max {data['lateness_max']} s; "
        f"{data['wake_ups_waiting_for_a_slot']} due while every running slot was taken)"
    )


def write_report(
    name: str,
    seed: int,
    minutes: float,
    seconds: float,
    workload: Workload,
    faults: Faults,
    verdict: Verdict,
    disk: bool,
    results: Path = RESULTS,
    drain: Drain | None = None,
    kills_goal: int = 0,
) -> str:
    data = figures(name, seed, minutes, seconds, workload, faults, verdict, disk, drain, kills_goal)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    text = table(data)
    (results / f"{name}.md").write_text(text + "\n")
    return text
