"""Checks and replays over a storage directory, in this process, read-only.

``pyflow check`` and ``pyflow replay`` run here: each journal is opened
read-only (``<storage>/journals/<workflow>/<id>.duckdb``; a finished
instance's folded copy in ``<storage>/history.duckdb`` once its journal was
folded, see ``storage/history.py``), its workflow class
imported as ``pyflow.toml`` declares it (the kept version the instance started
on, if it is one: the code the engine will run it on), and the journal replayed on the real
engine by :func:`~.check.check_journal`: no step function runs, nothing is
written, no engine or gateway is needed. A journal a live instance actor holds
is locked by DuckDB: it is skipped (checked when the instance sleeps, or by
the engine itself when it starts the instance on changed code).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .. import serialization
from ..config import EngineConfig, WorkflowSpec, add_code_paths
from ..engine.records import StepRecord
from ..entrypoint import Env, WorkflowEvent
from ..errors import InstanceNotFound, JournalLocked, PyflowError, WorkflowNotFound
from ..storage.history import FinishedJournal, open_instance
from ..storage.journal import DuckJournal
from ..versions import class_version_id, spec_config
from .check import CheckResult, Divergence, check_journal
from .pinning import kept_versions, place

JournalReader = DuckJournal | FinishedJournal  # a journal file, or a finished one's folded copy


class Verdict(str, Enum):
    """What ``pyflow check`` says of one unfinished instance."""

    COMPATIBLE = "compatible"
    DIVERGED = "diverged"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class InstanceCheck:
    """The verdict on one instance, with what ``detail`` says of it."""

    workflow: str
    instance_id: str
    verdict: Verdict
    detail: str
    divergence: Divergence | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "workflow": self.workflow,
            "id": self.instance_id,
            "verdict": str(self.verdict),
            "detail": self.detail,
        }
        if self.divergence is not None:
            found["divergence"] = {
                "position": self.divergence.position,
                "code": {"kind": self.divergence.code_kind, "key": self.divergence.code_key},
                "journal": {
                    "kind": self.divergence.journal_kind,
                    "key": self.divergence.journal_key,
                },
            }
        return found


def journals(storage: Path) -> Iterator[tuple[str, str, Path]]:
    """Every journal in ``storage``: (workflow, instance id, path), in name order."""
    for path in sorted((storage / "journals").glob("*/*.duckdb")):
        yield path.parent.name, path.stem, path


def check_storage(config: EngineConfig, storage: Path | None = None) -> list[InstanceCheck]:
    """Check every unfinished instance in ``storage`` (default: the config's) against the code."""
    add_code_paths(config.code_paths)
    found = []
    for workflow, instance_id, path in journals(storage or Path(config.storage)):
        verdict = _check_one(config, workflow, instance_id, path)
        if verdict is not None:
            found.append(verdict)
    return found


def _check_one(
    config: EngineConfig, workflow: str, instance_id: str, path: Path
) -> InstanceCheck | None:
    def skipped(why: str) -> InstanceCheck:
        return InstanceCheck(workflow, instance_id, Verdict.SKIPPED, why)

    try:
        journal = DuckJournal(path, read_only=True)
    except JournalLocked:
        return skipped("in use by its live instance actor: checked when it starts on new code")
    except PyflowError as exc:
        return skipped(f"{exc.code}: {exc.message}")
    with journal:
        if journal.result() is not None or not journal.meta():
            return None  # finished (or never started): nothing will replay it
        try:
            current = _workflow(config, workflow).class_name
            spec = code_for(config, workflow, journal)
            result = _replay(config, spec, instance_id, journal)
        except PyflowError as exc:
            return skipped(f"{exc.code}: {exc.message}")
    note = f"on kept version {spec.class_name}: " if spec.class_name != current else ""
    if result.divergence is not None:
        detail = note + result.divergence.describe()
        return InstanceCheck(workflow, instance_id, Verdict.DIVERGED, detail, result.divergence)
    detail = f"{note}{result.matched} recorded step(s) replayed in order"
    return InstanceCheck(workflow, instance_id, Verdict.COMPATIBLE, detail)


def _workflow(config: EngineConfig, workflow: str) -> WorkflowSpec:
    try:
        return config.workflow(workflow)
    except WorkflowNotFound:
        raise WorkflowNotFound(f"workflow {workflow!r} is not in the config") from None


def code_for(config: EngineConfig, workflow: str, journal: JournalReader) -> WorkflowSpec:
    """The code the engine runs this instance on: a kept version it started on, or the
    current code (see :mod:`.pinning`; the runner records the version in the journal)."""
    spec = _workflow(config, workflow)
    started_on = journal.meta().get("version_id")
    if not started_on:
        return spec  # a journal from before versions were recorded there: the current code
    current = class_version_id(spec.load(), spec_config(spec))
    return place(spec, started_on, current, kept_versions(spec)).spec


def _replay(
    config: EngineConfig,
    spec: WorkflowSpec,
    instance_id: str,
    journal: JournalReader,
    on_step: Callable[[StepRecord], None] | None = None,
) -> CheckResult:
    instance = spec.load()(Env(dict(config.vars)))
    meta = journal.meta()
    event = WorkflowEvent(
        serialization.loads(meta.get("params") or "null"),
        _dt.datetime.fromtimestamp(float(meta.get("created_at") or 0), _dt.timezone.utc),
        instance_id,
        spec.name,
    )
    return asyncio.run(
        check_journal(instance, event, journal, limits=config.limits, on_step=on_step)
    )


def replay_instance(
    config: EngineConfig,
    workflow: str,
    instance_id: str,
    on_step: Callable[[StepRecord], None],
    storage: Path | None = None,
) -> CheckResult:
    """Replay one instance's journal here (breakpoints in ``run()`` work), calling
    ``on_step`` with each recorded step as the code gets its result; no step runs."""
    add_code_paths(config.code_paths)
    name = config.workflow(workflow).name
    with open_instance(storage or Path(config.storage), name, instance_id) as journal:
        if journal is None:
            raise InstanceNotFound(f"instance {instance_id!r} of workflow {name!r} has no journal")
        return _replay(config, code_for(config, name, journal), instance_id, journal, on_step)
