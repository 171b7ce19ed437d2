"""The chaos soak's own judging (benchmarks/chaos): the drain and late wake-ups.

Seed 16 failed twice on its judge, not the engine: instances still running,
their steps still written, when a 300 s drain ran out; and wake-ups 33 to 42 s
late counted against the alarms while every running slot was taken. And the
quick soak made 6 kinds of fault of 9 at random (seed 15).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from benchmarks.chaos.checker import TOLERANCE, Checker
from benchmarks.chaos.drain import Drain
from benchmarks.chaos.faults import FIRST_ROUND, Faults
from benchmarks.chaos.slots import SlotWatch
from benchmarks.chaos.workload import CallLog, Rest, Tracked, Workload


def test_the_drain_lasts_while_steps_are_written_and_ends_when_they_stop(tmp_path: Path):
    ledger = tmp_path / "ledger.txt"
    drain = Drain(ledger, stall=0.3, cap=60)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # work goes on past what a 0.3 s constant allowed
        with ledger.open("a") as out:
            out.write("c1 step-0 1.0\n")
        assert not drain.over()
        time.sleep(0.05)
    time.sleep(0.4)
    assert drain.over() and drain.stalled and drain.seconds >= 1.0


def test_the_drain_ends_at_its_cap_even_while_work_goes_on(tmp_path: Path):
    ledger = tmp_path / "ledger.txt"
    drain = Drain(ledger, stall=60, cap=0.2)
    time.sleep(0.25)
    ledger.write_text("c1 step-0 1.0\n")
    assert drain.over() and not drain.stalled


def judged(tmp_path: Path, woke_after: float, full_until: float | None) -> Checker:
    due = 1000.0
    (tmp_path / "ledger.txt").write_text(f"c1 woke {due} {due + woke_after}\n")
    slots = SlotWatch(Rest("token"), max_running=2)
    slots.samples = [(due + 1, 2)] + ([(full_until, 2)] if full_until else [])
    slots.samples += [(due + woke_after - 1, 1)]
    tracked = {"c1": Tracked(workflow="chaos", steps=1, events=0, accepted=True)}
    checker = Checker(tracked, [], [(0.0, 0.0)], tmp_path / "ledger.txt", slots.last_full)
    checker._wake_ups({"c1": [(due, due + woke_after)]})
    return checker


def test_a_wake_up_that_waited_for_a_running_slot_is_late_only_after_the_slots_freed(tmp_path):
    waited = judged(tmp_path, woke_after=TOLERANCE + 12, full_until=1000.0 + 20)
    assert waited.verdict.late == [] and waited.verdict.slot_waits == 1
    assert waited.verdict.lateness == [TOLERANCE + 12]  # reported as it was


def test_a_wake_up_late_once_the_slots_were_free_is_still_late(tmp_path):
    late = judged(tmp_path, woke_after=TOLERANCE + 12, full_until=None)
    assert late.verdict.late == [f"c1: {TOLERANCE + 12:.1f}s late"]


def faults_of(tmp_path: Path, disk: object | None) -> Faults:
    log = CallLog(tmp_path / "calls.jsonl")
    workload = Workload(Rest("token"), random.Random(1), tmp_path / "ledger.txt", log)
    offset = tmp_path / "clock-offset"
    return Faults(None, disk, workload, random.Random(2), log, offset, (0.0, 0.0))  # type: ignore[arg-type]


def test_a_short_soak_makes_every_kind_of_fault_once_cheapest_first(tmp_path: Path):
    faults = faults_of(tmp_path, disk=object())
    made = []
    while faults.unmade():
        kind = faults.choose()
        faults.tried[kind] = time.monotonic()
        faults.counts[kind] += 1
        made.append(kind)
    assert made == list(FIRST_ROUND)  # the whole runtime, a minute here, comes last


def test_a_kind_with_nothing_to_hit_gives_way_and_disk_kinds_need_a_small_disk(tmp_path: Path):
    faults = faults_of(tmp_path, disk=None)
    assert "disk full" not in faults.unmade() and "read-only storage" not in faults.unmade()
    first = faults.choose()
    faults.tried[first] = time.monotonic()  # tried: nothing to hit (no live instance)
    assert faults.choose() != first
