"""The chaos soak's kill rate (benchmarks/chaos/pace.py): a target of kills per
minute kills several instance actors or shared hosts in one fault, each one
kill, and makes the costly faults rarer; without a target, one process a fault
as before (the quick run's seed-15 behaviour).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from benchmarks.chaos.faults import FIRST_ROUND, Faults
from benchmarks.chaos.pace import MAX_BATCH, PACED_GAPS, Pace
from benchmarks.chaos.workload import CallLog, Rest, Tracked, Workload


def faults_of(tmp_path: Path, pace: Pace, live: dict[str, int]) -> tuple[Faults, list[int]]:
    """Faults seeing ``live`` ({instance id: pid}) as the chaos workflow's live instances;
    the pids it sends kill -9 to are in the list (no signal is sent)."""
    log = CallLog(tmp_path / "calls.jsonl")
    workload = Workload(Rest("token"), random.Random(1), tmp_path / "ledger.txt", log)
    offset = tmp_path / "clock-offset"
    faults = Faults(None, object(), workload, random.Random(2), log, offset, (0.0, 0.0), pace)  # type: ignore[arg-type]
    for instance_id in live:
        workload.instances[instance_id] = Tracked(workflow="chaos", steps=1, events=0)
    faults._snapshots["chaos"] = (time.monotonic() + 3600, dict(live))
    signalled: list[int] = []

    def kill(pid: int) -> bool:
        signalled.append(pid)
        return True

    faults._kill = kill  # type: ignore[method-assign]
    return faults, signalled


def test_without_a_target_a_fault_kills_one_instance_actor(tmp_path: Path):
    faults, signalled = faults_of(tmp_path, Pace(), {f"i{n}": 100 + n for n in range(8)})
    faults.began -= 600  # ten minutes in: no target, so no catching up
    held = faults._instance_actor()
    assert held is not None and len(held) == 1 and len(signalled) == 1
    assert faults.kills["instance actor"] == 1


def test_behind_its_target_a_fault_kills_several_distinct_processes_each_one_kill(tmp_path):
    live = {f"i{n}": 100 + n for n in range(10)} | {"j1": 100, "j2": 101}  # two share a pid
    faults, signalled = faults_of(tmp_path, Pace(kills_per_minute=30), live)
    faults.began -= 9.9  # 9.9 s in at 30 a minute: 4.95 owed, so 5
    held = faults._instance_actor()
    assert len(signalled) == len(set(signalled)) == 5
    assert faults.kills["instance actor"] == 5
    assert held is not None and set(held) == {i for i, p in live.items() if p in signalled}
    assert all(faults.workload.instances[i].kills for i in held)  # the checker excuses them
    faults.began -= 600  # far behind: never more than MAX_BATCH at once
    faults._instance_actor()
    assert len(signalled) == 5 + min(MAX_BATCH, 10 - 5)


def test_a_killed_process_is_not_chosen_again_from_the_same_snapshot(tmp_path: Path):
    faults, signalled = faults_of(tmp_path, Pace(kills_per_minute=600), {"a": 1, "b": 2, "c": 3})
    faults.began -= 60
    faults._instance_actor()
    assert sorted(signalled) == [1, 2, 3]
    assert faults._instance_actor() is None  # nothing left to hit until the next snapshot
    assert faults.kills["instance actor"] == 3


@pytest.mark.parametrize("kind", ["whole runtime", "worker node", "disk full", "gateway"])
def test_with_a_target_a_costly_kind_waits_its_longer_gap(tmp_path: Path, kind: str):
    unpaced, _ = faults_of(tmp_path, Pace(), {})
    paced, _ = faults_of(tmp_path, Pace(kills_per_minute=25), {})
    for faults in (unpaced, paced):
        for made in FIRST_ROUND:
            faults.counts[made] += 1
        faults.last[kind] = time.monotonic()
    unpaced_gap = unpaced.pace.gap(kind, 0.0)
    assert paced.pace.gap(kind, 0.0) == PACED_GAPS[kind] > unpaced_gap
    for faults in (unpaced, paced):  # only the paced soak still holds it back
        faults.last[kind] -= PACED_GAPS[kind] - 1
    picks = {faults: {faults.choose() for _ in range(400)} for faults in (unpaced, paced)}
    assert kind in picks[unpaced] and kind not in picks[paced]


def test_each_fault_of_a_single_process_kind_is_one_kill_and_storage_or_clock_faults_none(
    tmp_path: Path,
):
    faults, _ = faults_of(tmp_path, Pace(kills_per_minute=25), {})
    stop = threading.Event()
    order = iter(["supervisor", "gateway", "clock shift", "disk full", "whole runtime"])

    def choose() -> str:
        kind = next(order, None)
        if kind is None:
            stop.set()
            return "clock shift"
        return kind

    faults.choose = choose  # type: ignore[method-assign]
    for kind in ("supervisor", "gateway", "disk_full", "whole_runtime", "clock_shift"):
        setattr(faults, "_" + kind, lambda: [])
    faults.run(stop)
    assert dict(faults.kills) == {"supervisor": 1, "gateway": 1, "whole runtime": 1}
    assert faults.counts["clock shift"] >= 1 and faults.counts["disk full"] == 1


def test_a_pid_once_killed_is_never_signalled_or_counted_again(tmp_path: Path, monkeypatch):
    """A stale snapshot still names it, and a zombie still takes a signal."""
    faults, _ = faults_of(tmp_path, Pace(kills_per_minute=600), {"a": 7, "b": 8})
    del faults._kill  # the real one, with os.kill faked
    sent: list[int] = []
    monkeypatch.setattr("benchmarks.chaos.faults.os.kill", lambda pid, sig: sent.append(pid))
    faults.began -= 60
    for _ in range(2):  # the watch brings back the snapshot it took before the kill
        faults._snapshots["chaos"] = (time.monotonic(), {"a": 7, "b": 8})
        faults._instance_actor()
    assert sorted(sent) == [7, 8] and faults.kills["instance actor"] == 2


def test_with_a_target_the_supervisor_comes_more_often_than_a_clock_shift(tmp_path: Path):
    """Few instance actors are live at once on a loaded machine: the cheap supervisor
    kill takes up the rate; without a target the weights are the quick run's."""
    counts = {}
    for pace in (Pace(), Pace(kills_per_minute=25)):
        faults, _ = faults_of(tmp_path, pace, {})
        for made in FIRST_ROUND:
            faults.counts[made] += 1
        picks = [faults.choose() for _ in range(2000)]
        counts[pace.kills_per_minute] = (picks.count("supervisor"), picks.count("clock shift"))
    assert counts[0.0][0] < counts[0.0][1]  # weights 6 and 8
    assert counts[25][0] > 3 * counts[25][1]  # weights 24 and 3
