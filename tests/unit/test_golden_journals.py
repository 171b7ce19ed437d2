"""Every golden journal written by an earlier release opens and replays with this code.

Each journal is copied first (opening it for writing stamps and may migrate
it), read as ``describe`` reads it, then replayed by the engine: finished
journals give their recorded result without running any step code again;
the unfinished one goes on from where its journal stopped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pyflow_actors import serialization
from pyflow_actors.engine import Execution
from pyflow_actors.engine.clock import VirtualClock
from pyflow_actors.entrypoint import Env, WorkflowEvent
from pyflow_actors.storage import formats as versions
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos
from tests.golden import workflows

GOLDEN = Path(__file__).parents[1] / "golden"
CASES = [
    pytest.param(folder, case, id=f"{folder.name}/{case['id']}")
    for folder in sorted(GOLDEN.glob("v*"))
    for case in json.loads((folder / "expected.json").read_text())
]


def copy_of(folder: Path, case: dict, tmp_path: Path) -> Path:
    source = journal_path(folder, case["workflow"], case["id"])
    target = journal_path(tmp_path, case["workflow"], case["id"])
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return target


def test_there_are_golden_journals_of_every_format_version():
    assert {p.name for p in GOLDEN.glob("v*")} >= {f"v{versions.CURRENT[versions.JOURNAL]}"}


@pytest.mark.parametrize(("folder", "case"), CASES)
def test_a_golden_journal_reads_as_it_was_recorded(folder, case, tmp_path):
    with DuckJournal(copy_of(folder, case, tmp_path), read_only=True) as journal:
        steps = [s.model_dump(mode="json") for s in step_infos(journal)]
        result = journal.result()
    # Every field the release recorded reads the same; a later release may add fields.
    assert len(steps) == len(case["steps"])
    pairs = zip(steps, case["steps"], strict=True)
    assert [{k: s[k] for k in old if k in s} for s, old in pairs] == case["steps"]
    assert (result.status if result else "waiting") == case["status"]
    if case["output"] is not None:
        assert serialization.loads(result.output) == case["output"]
    if case["error"] is not None:
        assert result.error_name == case["error"]["name"]
        assert result.error_message == case["error"]["message"]


@pytest.mark.parametrize(("folder", "case"), CASES)
def test_a_golden_journal_replays_without_running_its_steps_again(folder, case, tmp_path):
    workflows.STEP_RUNS.clear()
    with DuckJournal(copy_of(folder, case, tmp_path)) as journal:
        meta = journal.meta()
        assert meta["format_version"] == str(versions.CURRENT[versions.JOURNAL])
        created = float(meta["created_at"])
        event = WorkflowEvent(
            serialization.loads(meta["params"]),
            dt.datetime.fromtimestamp(created, dt.timezone.utc),
            case["id"],
            case["workflow"],
        )
        workflow = getattr(workflows, case["class"])(Env())
        # Long after every recorded wait: sleeps and timeouts have all passed.
        clock = VirtualClock(start=created + 60 * 86400)
        execution = Execution(workflow, event, journal, hibernate_after=float("inf"), clock=clock)
        outcome = asyncio.run(asyncio.wait_for(execution.run(), timeout=10))
    if case["status"] == "waiting":  # unfinished: only the steps after its sleep run now
        assert outcome.kind == "complete"
        assert workflows.STEP_RUNS == ["after"]
        return
    assert workflows.STEP_RUNS == []
    assert outcome.kind == case["status"]
    if case["output"] is not None:
        assert serialization.loads(outcome.output) == case["output"]
    if case["error"] is not None:
        assert outcome.error == (case["error"]["name"], case["error"]["message"])
