"""The replay engine's module map (README "Architecture"): one module per concern,
each small, importing only downwards, and ``engine.replay`` still serving the
names other modules import from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pyflow_actors.engine as engine
from pyflow_actors.engine import execution, replay, step, step_config

ENGINE = Path(engine.__file__).parent
MAX_MODULE_LINES = 450


def sibling_imports(path: Path) -> set[str]:
    """The engine modules ``path`` imports (``from .x import``), type-checking ones too."""
    tree = ast.parse(path.read_text())
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }


def test_every_engine_module_stays_under_the_size_limit():
    sizes = {p.name: len(p.read_text().splitlines()) for p in ENGINE.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_engine_modules_import_each_other_without_cycles():
    edges = {p.stem: sibling_imports(p) for p in ENGINE.glob("*.py") if p.stem != "__init__"}

    def reaches(start: str, target: str, seen: frozenset[str]) -> bool:
        return any(
            nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt}))
            for nxt in edges.get(start, ())
        )

    assert [m for m in edges if reaches(m, m, frozenset())] == []


def test_the_step_object_does_not_import_the_execution_it_belongs_to():
    assert "execution" not in sibling_imports(ENGINE / "step.py")


def test_engine_replay_re_exports_the_engine_names_from_their_homes():
    assert replay.__all__ == ["Execution", "Outcome", "ReplayStep", "StepCallable", "StepConfig"]
    assert replay.Execution is execution.Execution is engine.Execution
    assert replay.Outcome is execution.Outcome is engine.Outcome
    assert replay.ReplayStep is step.ReplayStep is engine.ReplayStep
    assert replay.StepCallable is step.StepCallable is engine.StepCallable
    assert replay.StepConfig is step_config.StepConfig is engine.StepConfig
