"""The chaos soak's checker finds every kind of damage it claims to (benchmarks/chaos.py)."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.chaos import Chaos, Figures, Tracked
from benchmarks.chaos_workflow import expected_output
from pyflow_actors.errors import InstanceNotFound
from pyflow_actors.models import InstanceStatus


class FakeWorkflow:
    def __init__(self, statuses: dict[str, tuple[InstanceStatus, Any]]) -> None:
        self.statuses = statuses

    def get(self, instance_id: str) -> Any:
        if instance_id not in self.statuses:
            raise InstanceNotFound(f"no {instance_id}")
        status, output = self.statuses[instance_id]
        info = SimpleNamespace(status=status, output=output)
        return SimpleNamespace(status=lambda: info)

    def list(self, per_page: int) -> Any:
        return SimpleNamespace(total=len(self.statuses))


def judged(tmp_path: Path, instances: dict[str, Tracked], statuses: dict, lines: list[str]):
    engine = SimpleNamespace(client=SimpleNamespace(workflow=lambda name: FakeWorkflow(statuses)))
    chaos = Chaos(engine, random.Random(1), tmp_path, Figures(seed=1, minutes=0))
    chaos.instances = instances
    Path(chaos.ledger).write_text("".join(line + "\n" for line in lines))
    chaos.check(drain=0.5)
    return chaos.figures


def test_a_healthy_run_has_no_problems(tmp_path):
    done = (InstanceStatus.COMPLETE, expected_output(2, [0, 1]))
    figures = judged(
        tmp_path,
        {"a": Tracked(steps=2, events=2, sent=[0, 1], kills=1)},
        {"a": done},
        ["a step-0", "a step-0", "a step-1"],  # one repeat, one kill: allowed
    )
    assert (figures.lost, figures.wrong, figures.repeated, figures.duplicated) == ([], [], [], 0)
    assert figures.steps_run == 3


def test_lost_wrong_repeated_and_missing_steps_are_all_reported(tmp_path):
    instances = {
        "lost": Tracked(steps=1, events=0),
        "unsure": Tracked(steps=1, events=0, certain=False),  # its create may have failed
        "reordered": Tracked(steps=1, events=2, sent=[0, 1]),
        "repeated": Tracked(steps=1, events=0, kills=0),
        "skipped": Tracked(steps=2, events=0),
    }
    statuses = {
        "reordered": (InstanceStatus.COMPLETE, expected_output(1, [1, 0])),
        "repeated": (InstanceStatus.COMPLETE, expected_output(1, [])),
        "skipped": (InstanceStatus.COMPLETE, expected_output(2, [])),
    }
    lines = ["reordered step-0", "repeated step-0", "repeated step-0", "skipped step-0"]
    figures = judged(tmp_path, instances, statuses, lines)
    assert figures.lost == ["lost"]
    assert [w.split(":")[0] for w in figures.wrong] == ["reordered", "skipped"]
    assert [r.split(":")[0] for r in figures.repeated] == ["repeated"]
