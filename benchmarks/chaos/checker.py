"""The soak's checker: judges a run from the call log's outcomes, the ledger and the
fault windows, nothing else.

* every accepted instance reached the right final state (``complete``, or
  ``terminated`` when a terminate was answered) with the right output (lost:
  not final at the end; wrong: another state or output);
* no committed step ran again: every ledger line of a step but its last must
  fall in a fault that could have interrupted it (a kill of its own process
  or, for a shared instance, of any host; a worker node, whole-runtime or
  storage fault) or be the planned failure of a flaky step (repeated);
* every accepted event was consumed once, in the order sent (in the output);
* alarms: each sleeper woke once (doubled) and no earlier than the moment the
  engine's clock, shifts included, passed its due time (early); woken more
  than :data:`TOLERANCE` seconds after that moment without an outage of the
  supervisor, runtime or storage meanwhile is a late wake-up;
* no instance is listed twice or unknown to the driver (duplicated).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .faults import Window
from .workflow import expected_output
from .workload import Tracked

# Seconds after its due time (on the shifted clock) a wake-up may take: a wake-up
# waits for a running slot and an actor start, on 2 cores shared at a load of ~50.
TOLERANCE = 30.0
SLACK = 10.0  # seconds around a fault within which an attempt may have been in flight
ANY_INSTANCE = {"worker node", "whole runtime", "disk full", "read-only storage"}
OUTAGES = ANY_INSTANCE | {"supervisor"}  # nothing wakes while one lasts
FINAL = ("complete", "errored", "terminated")
SHARED_WORKFLOW = "chaos-shared"


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    unsure_not_final: int = 0
    steps_run: int = 0
    wake_ups: int = 0
    slot_waits: int = 0  # wake-ups due while every running slot was taken
    lateness: list[float] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(
            self.lost or self.wrong or self.repeated or self.duplicated or self.early
        ) or bool(self.doubled or self.late)


def read_ledger(path: Path) -> tuple[dict[tuple[str, int], list[float]], dict[str, list[Any]]]:
    """Step lines ``{(instance, step): [times]}`` and wake lines ``{instance: [(due, at)]}``."""
    steps: dict[tuple[str, int], list[float]] = defaultdict(list)
    woke: dict[str, list[Any]] = defaultdict(list)
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].startswith("step-"):
            steps[(parts[0], int(parts[1][5:]))].append(float(parts[2]))
        elif len(parts) == 4 and parts[1] == "woke":
            woke[parts[0]].append((float(parts[2]), float(parts[3])))
    return steps, woke


def engine_passed(due: float, offsets: list[tuple[float, float]]) -> float:
    """The machine time at which the engine's clock (machine + offset) first reached ``due``."""
    for n, (since, offset) in enumerate(offsets):
        until = offsets[n + 1][0] if n + 1 < len(offsets) else float("inf")
        if due - offset < until:
            return max(since, due - offset)
    return float("inf")


class Checker:
    def __init__(
        self,
        instances: dict[str, Tracked],
        windows: list[Window],
        offsets: list[tuple[float, float]],
        ledger: Path,
        last_full: Callable[[float, float], float | None] | None = None,
    ) -> None:
        """``last_full(since, until)``: the last moment the running slots were all
        taken (:class:`~benchmarks.chaos.slots.SlotWatch`), None if never seen."""
        self.instances, self.windows, self.offsets = instances, windows, offsets
        self.ledger, self.last_full = ledger, last_full
        self.verdict = Verdict()
        self.completed: list[str] = []  # certain instances judged complete

    def judge(
        self,
        status_of: Callable[[str, Tracked], dict[str, Any] | None],
        listed: list[tuple[str, str]],
        over: Callable[[], bool],
    ) -> Verdict:
        """``status_of`` reads an instance's REST status (None: unreadable now);
        ``listed`` is every (workflow, id) the engine lists."""
        self._final_states(status_of, over)
        steps, woke = read_ledger(self.ledger)
        for instance_id in self.completed:
            if any((instance_id, n) not in steps for n in range(self.instances[instance_id].steps)):
                self.verdict.wrong.append(f"{instance_id}: a step never ran")
        self._steps(steps)
        self._wake_ups(woke)
        self._duplicates(listed)
        return self.verdict

    def _final_states(self, status_of: Any, over: Callable[[], bool]) -> None:
        for instance_id, tracked in self.instances.items():
            if not tracked.accepted:
                continue
            status = None
            while True:
                status = status_of(instance_id, tracked)
                if (status and status["status"] in FINAL) or over():
                    break
                time.sleep(0.5)
            self._judge_final(instance_id, tracked, status)

    def _judge_final(self, instance_id: str, tracked: Tracked, status: Any) -> None:
        verdict = self.verdict
        if not status or status["status"] not in FINAL:
            if tracked.certain:
                verdict.lost.append(f"{instance_id}: {status and status['status']}")
            else:
                verdict.unsure_not_final += 1
            return
        if not tracked.certain:
            return
        expected = "terminated" if tracked.terminated else "complete"
        if status["status"] != expected:
            verdict.wrong.append(f"{instance_id}: {status['status']} ({status.get('error')})")
        elif expected == "complete" and status["output"] != expected_output(
            tracked.steps, tracked.sent
        ):
            verdict.wrong.append(f"{instance_id}: output {status['output']}")
        elif expected == "complete":
            self.completed.append(instance_id)

    def _hits(self, instance_id: str, kinds: set[str]) -> list[Window]:
        """The fault windows that can have hit this instance: ``kinds`` hit any;
        a shared host kill hits any shared instance (one may have come to that
        host after the soak looked); another kill, its targets only."""
        tracked = self.instances.get(instance_id)
        shared = tracked is not None and tracked.workflow == SHARED_WORKFLOW
        return [
            w
            for w in self.windows
            if w.kind in kinds or (w.kind == "shared host" and shared) or instance_id in w.targets
        ]

    def _excused(self, instance_id: str, at: float, before: float) -> bool:
        """Whether a step line at ``at`` may be an attempt a fault interrupted."""
        tracked = self.instances.get(instance_id)
        if tracked and any(k - before - SLACK <= at <= k for k in tracked.kills):
            return True
        return any(
            w.start - before - SLACK <= at <= w.end + SLACK
            for w in self._hits(instance_id, ANY_INSTANCE)
        )

    def _steps(self, steps: dict[tuple[str, int], list[float]]) -> None:
        for (instance_id, step), times in steps.items():
            self.verdict.steps_run += len(times)
            tracked = self.instances.get(instance_id)
            before = tracked.step_seconds if tracked else 1.0
            earlier = sorted(times)[:-1]
            if tracked and tracked.flaky == step and earlier:
                earlier = earlier[1:]  # its planned failure
            unexcused = [t for t in earlier if not self._excused(instance_id, t, before)]
            if unexcused:
                self.verdict.repeated.append(
                    f"{instance_id} step-{step}: {len(times)} runs, "
                    f"{len(unexcused)} outside any fault"
                )

    def _wake_ups(self, woke: dict[str, list[Any]]) -> None:
        for instance_id, lines in woke.items():
            due, at = sorted(lines, key=lambda line: line[1])[0]
            self.verdict.wake_ups += 1
            passed = engine_passed(due, self.offsets)
            lateness = at - passed
            self.verdict.lateness.append(round(lateness, 3))
            full = self.last_full(passed, at) if self.last_full is not None else None
            if full is not None:  # it waited its turn for a slot: owed the next one
                self.verdict.slot_waits += 1
            if lateness < -1.0:  # the engine's own clock never showed the due time
                self.verdict.early.append(f"{instance_id}: {lateness:.1f}s early")
            elif at - max(passed, full or passed) > TOLERANCE and not any(
                w.start <= at and w.end + SLACK >= passed for w in self._hits(instance_id, OUTAGES)
            ):
                self.verdict.late.append(f"{instance_id}: {lateness:.1f}s late")
            extra = [t for _, t in lines[1:] if not self._excused(instance_id, t, 1.0)]
            if extra:
                self.verdict.doubled.append(f"{instance_id}: woke {len(lines)} times")

    def _duplicates(self, listed: list[tuple[str, str]]) -> None:
        seen: set[tuple[str, str]] = set()
        for workflow, instance_id in listed:
            tracked = self.instances.get(instance_id)
            if (workflow, instance_id) in seen:
                self.verdict.duplicated.append(f"{workflow}/{instance_id}: listed twice")
            elif tracked is None or tracked.workflow != workflow:
                self.verdict.duplicated.append(f"{workflow}/{instance_id}: unknown to the driver")
            elif tracked.accepted is False:
                self.verdict.duplicated.append(f"{workflow}/{instance_id}: refused, yet created")
            seen.add((workflow, instance_id))
