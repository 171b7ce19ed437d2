"""The chaos soak's checker finds every kind of damage it claims to (benchmarks/chaos/checker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.chaos.checker import TOLERANCE, Checker, Verdict, engine_passed
from benchmarks.chaos.drain import Drain
from benchmarks.chaos.faults import Window
from benchmarks.chaos.workflow import expected_output
from benchmarks.chaos.workload import Tracked

T0 = 1_000_000.0  # machine time of the run's start in these tests


def complete(steps: int, events: list[int]) -> dict[str, Any]:
    return {"status": "complete", "output": expected_output(steps, events), "error": None}


def judged(
    tmp_path: Path,
    instances: dict[str, Tracked],
    statuses: dict[str, dict[str, Any]],
    lines: list[str],
    windows: list[Window] | None = None,
    offsets: list[tuple[float, float]] | None = None,
    listed: list[tuple[str, str]] | None = None,
) -> Verdict:
    ledger = tmp_path / "ledger.txt"
    ledger.write_text("".join(line + "\n" for line in lines))
    checker = Checker(instances, windows or [], offsets or [(0.0, 0.0)], ledger)
    if listed is None:
        listed = [(t.workflow, i) for i, t in instances.items() if i in statuses]
    return checker.judge(
        lambda instance_id, _: statuses.get(instance_id), listed, Drain(ledger, stall=0.3).over
    )


def tracked(steps: int = 1, **kwargs: Any) -> Tracked:
    kwargs.setdefault("accepted", True)
    return Tracked(workflow="chaos", steps=steps, events=len(kwargs.get("sent", [])), **kwargs)


def test_a_healthy_run_has_no_problems(tmp_path: Path) -> None:
    instances = {
        "a": tracked(2, sent=[0, 1], kills=[T0 + 5]),
        "f": tracked(1, flaky=0),
    }
    lines = [
        f"a step-0 {T0 + 4.95}",  # in flight at the kill: may run again
        f"a step-0 {T0 + 6}",
        f"a step-1 {T0 + 7}",
        f"f step-0 {T0 + 1}",  # the planned failure of a flaky step
        f"f step-0 {T0 + 2}",
    ]
    statuses = {"a": complete(2, [0, 1]), "f": complete(1, [])}
    verdict = judged(tmp_path, instances, statuses, lines)
    assert not verdict.failed, verdict
    assert verdict.steps_run == 5


def test_lost_wrong_repeated_and_missing_steps_are_all_reported(tmp_path: Path) -> None:
    instances = {
        "lost": tracked(),
        "unsure": tracked(certain=False),  # an event's outcome is unknown: not judged
        "reordered": tracked(1, sent=[0, 1]),
        "repeated": tracked(),
        "skipped": tracked(2),
        "errored": tracked(),
        "refused": tracked(accepted=False),  # never accepted: nothing expected of it
    }
    statuses = {
        "lost": {"status": "running", "output": None},
        "reordered": complete(1, [1, 0]),
        "repeated": complete(1, []),
        "skipped": complete(2, []),
        "errored": {"status": "errored", "output": None, "error": "boom"},
    }
    lines = [
        f"reordered step-0 {T0}",
        f"repeated step-0 {T0}",
        f"repeated step-0 {T0 + 100}",  # no fault anywhere near: a committed step ran again
        f"skipped step-0 {T0}",
        f"errored step-0 {T0}",
    ]
    verdict = judged(tmp_path, instances, statuses, lines)
    assert [x.split(":")[0] for x in verdict.lost] == ["lost"]
    assert sorted(x.split(":")[0] for x in verdict.wrong) == ["errored", "reordered", "skipped"]
    assert [x.split(" ")[0] for x in verdict.repeated] == ["repeated"]
    assert verdict.failed


def test_a_repeat_is_excused_by_a_storage_or_node_fault_but_not_by_a_supervisor_kill(
    tmp_path: Path,
) -> None:
    instances = {"d": tracked(), "s": tracked()}
    windows = [
        Window("disk full", T0 + 50, T0 + 60),
        Window("supervisor", T0 + 200, T0 + 200.1),
    ]
    lines = [
        f"d step-0 {T0 + 55}",
        f"d step-0 {T0 + 62}",
        f"s step-0 {T0 + 199}",
        f"s step-0 {T0 + 201}",
    ]
    statuses = {"d": complete(1, []), "s": complete(1, [])}
    verdict = judged(tmp_path, instances, statuses, lines, windows)
    assert [x.split(" ")[0] for x in verdict.repeated] == ["s"]


def test_the_engine_clock_passes_a_due_time_at_the_shift_that_jumps_over_it() -> None:
    offsets = [(0.0, 0.0), (T0 + 10, 300.0), (T0 + 20, -20.0)]
    assert engine_passed(T0 + 5, offsets) == T0 + 5  # before any shift
    assert engine_passed(T0 + 100, offsets) == T0 + 10  # the jump forward passed it
    assert engine_passed(T0 + 315, offsets) == T0 + 15  # while shifted
    assert engine_passed(T0 + 330, offsets) == T0 + 350  # the step back came first


def test_early_late_and_doubled_wake_ups_are_reported(tmp_path: Path) -> None:
    instances = {i: tracked() for i in ("ok", "early", "late", "excused", "twice")}
    offsets = [(0.0, 0.0), (T0 + 10, 300.0)]
    lines = [f"{i} step-0 {T0}" for i in instances] + [
        f"ok woke {T0 + 100} {T0 + 11}",  # passed at the shift (T0 + 10): 1 s
        f"early woke {T0 + 5} {T0 + 2}",  # 3 s before its time
        f"late woke {T0 + 400} {T0 + 100 + TOLERANCE + 5}",
        f"excused woke {T0 + 400} {T0 + 100 + TOLERANCE + 5}",
        f"twice woke {T0 + 330} {T0 + 31}",
        f"twice woke {T0 + 330} {T0 + 500}",
    ]
    windows = [Window("supervisor", T0 + 101, T0 + 105, [])]
    statuses = {i: complete(1, []) for i in instances}
    verdict = judged(tmp_path, instances, statuses, lines, windows, offsets)
    assert verdict.wake_ups == 5
    assert [x.split(":")[0] for x in verdict.early] == ["early"]
    assert [x.split(":")[0] for x in verdict.late] == []  # the supervisor was down meanwhile
    assert [x.split(":")[0] for x in verdict.doubled] == ["twice"]
    verdict = judged(tmp_path, instances, statuses, lines, [], offsets)
    assert sorted(x.split(":")[0] for x in verdict.late) == ["excused", "late"]


def test_duplicates_unknown_and_refused_yet_created_instances_are_reported(tmp_path: Path) -> None:
    instances = {"a": tracked(), "refused": tracked(accepted=False)}
    listed = [("chaos", "a"), ("chaos", "a"), ("chaos", "stranger"), ("chaos", "refused")]
    verdict = judged(tmp_path, instances, {"a": complete(1, [])}, [f"a step-0 {T0}"], listed=listed)
    assert [x.split(":")[1].strip() for x in verdict.duplicated] == [
        "listed twice",
        "unknown to the driver",
        "refused, yet created",
    ]


def test_a_shared_host_kill_excuses_any_shared_instance_but_no_dedicated_one(
    tmp_path: Path,
) -> None:
    instances = {"s": tracked(), "d": tracked()}
    instances["s"].workflow = "chaos-shared"  # on the shared placement: any host may hold it
    windows = [Window("shared host", T0 + 10, T0 + 11, ["someone-else"])]
    lines = [f"{i} step-0 {t}" for i in ("s", "d") for t in (T0 + 9, T0 + 12)]
    statuses = {i: complete(1, []) for i in instances}
    listed = [("chaos-shared", "s"), ("chaos", "d")]
    verdict = judged(tmp_path, instances, statuses, lines, windows, listed=listed)
    assert [x.split(" ")[0] for x in verdict.repeated] == ["d"]
