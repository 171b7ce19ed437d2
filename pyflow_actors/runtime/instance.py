"""The instance actor: one Ray named actor per *active* workflow instance.

It owns the instance's journal (nobody else writes it), runs the workflow's
``run()`` through the replay engine, and returns when the instance is final,
paused, cancelled, or hibernating. The supervisor then lets the process go: a
hibernating instance costs nothing but its journal file.

Kept cheap to start: an actor is a fresh process, so this module imports only
the engine, the journal and what the workflow itself imports.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import serialization
from ..config import WorkflowSpec, add_code_paths
from ..engine import EventRecord, Execution, RunResult
from ..entrypoint import Env, WorkflowEvent
from ..errors import JournalLocked
from ..limits import Limits
from ..models import StepInfo
from ..storage.journal import DuckJournal, step_infos


@dataclass
class InstanceOutcome:
    """What a run of the actor reports to the supervisor (after the journal has it)."""

    kind: str  # complete | errored | terminated | hibernate | paused | cancelled
    output: str | None = None
    error: tuple[str, str] | None = None
    wake_at: float | None = None
    waiting_for: list[str] = field(default_factory=list)
    started_at: float | None = None


@dataclass(frozen=True)
class InstanceSetup:
    """Everything an instance actor needs, passed once at creation."""

    workflow: str
    instance_id: str
    journal_path: str
    spec: WorkflowSpec
    bindings: dict[str, str]  # binding name -> workflow name
    vars: dict[str, Any]
    hibernate_after: float
    limits: Limits
    code_paths: tuple[str, ...]
    namespace: str
    supervisor_name: str


class InstanceActor:
    def __init__(self, setup: InstanceSetup) -> None:
        self.setup = setup
        self._journal: DuckJournal | None = None
        self._execution: Execution | None = None
        self._run_task: asyncio.Future | None = None
        self._accepting = True
        self._pause = False
        self._terminate_by: str | None = None
        self._cancelled = False
        self._opened = asyncio.Event()

    # -- the run --------------------------------------------------------------

    async def run(self, generation: int, params: str | None, created_at: float) -> InstanceOutcome:
        """Run (or keep running) the instance; idempotent so a new supervisor can re-attach."""
        if self._run_task is None:
            self._run_task = asyncio.ensure_future(self._run(generation, params, created_at))
        return await asyncio.shield(self._run_task)

    async def _run(self, generation: int, params: str | None, created_at: float) -> InstanceOutcome:
        setup = self.setup
        add_code_paths(setup.code_paths)
        journal = self._journal = await _open_journal(Path(setup.journal_path))
        try:
            meta = journal.meta()
            if int(meta.get("generation") or 0) < generation:
                if meta:
                    journal.reset(generation)
                journal.set_meta(
                    workflow=setup.workflow,
                    instance_id=setup.instance_id,
                    params=params if params is not None else "null",
                    created_at=created_at,
                    generation=generation,
                )
            meta = journal.meta()
            started_at = float(meta.get("started_at") or 0) or None
            if started_at is None:
                started_at = time.time()
                journal.set_meta(started_at=started_at)
            self._opened.set()
            done = journal.result()
            if done is not None:
                return _final(done, started_at)
            workflow = setup.spec.load()(self._env())
            event = WorkflowEvent(
                serialization.loads(meta.get("params") or "null"),
                _dt.datetime.fromtimestamp(float(meta["created_at"]), _dt.timezone.utc),
                setup.instance_id,
                setup.workflow,
            )
            while True:
                if self._terminate_by is not None or self._cancelled:
                    break  # stopped before (or between) runs: start nothing
                execution = Execution(
                    workflow,
                    event,
                    journal,
                    hibernate_after=setup.hibernate_after,
                    limits=setup.limits,
                )
                if self._pause:
                    execution.request_pause()
                self._execution = execution
                outcome = await execution.run()
                if self._terminate_by is not None:
                    result = RunResult("terminated", ended_at=time.time())
                    journal.set_result(result)
                    self._accepting = False
                    return _final(result, started_at)
                if outcome.kind == "hibernate" and _has_events_for(journal, outcome.waiting_for):
                    continue  # an event arrived while stopping: go on at once
                self._accepting = False  # no await from here to return
                if outcome.kind in ("complete", "errored"):
                    result = RunResult(
                        outcome.kind,
                        output=outcome.output,
                        error_name=outcome.error[0] if outcome.error else None,
                        error_message=outcome.error[1] if outcome.error else None,
                        ended_at=time.time(),
                    )
                    journal.set_result(result)
                    return _final(result, started_at)
                return InstanceOutcome(
                    outcome.kind,
                    wake_at=outcome.wake_at,
                    waiting_for=outcome.waiting_for,
                    started_at=started_at,
                )
            if self._terminate_by is not None:
                result = RunResult("terminated", ended_at=time.time())
                journal.set_result(result)
                return _final(result, started_at)
            return InstanceOutcome("cancelled", started_at=started_at)
        finally:
            self._accepting = False
            self._opened.set()

    def _env(self) -> Env:
        values: dict[str, Any] = dict(self.setup.vars)
        if self.setup.bindings:
            from ..client.api import AsyncWorkflow
            from ..client.ray_transport import RayTransport

            transport = RayTransport.lazy(self.setup.supervisor_name, self.setup.namespace)
            for binding, workflow in self.setup.bindings.items():
                values[binding] = AsyncWorkflow(transport, workflow)
        return Env(values)

    # -- commands from the supervisor -----------------------------------------

    async def deliver(self, events: list[dict[str, Any]]) -> bool:
        """Journal events and hand them to waits. False: not live any more, keep them."""
        await self._opened.wait()
        if not self._accepting or self._journal is None:
            return False
        records = [EventRecord(**e) for e in events]
        new = self._journal.add_events(records)
        if self._execution is not None and new:
            self._execution.deliver(new)
        return True

    async def pause(self) -> None:
        self._pause = True
        if self._execution is not None:
            self._execution.request_pause()

    async def unpause(self) -> None:
        self._pause = False
        if self._execution is not None:
            self._execution.cancel_pause()

    async def terminate(self, by: str = "api") -> None:
        """Journal the termination, then stop the step in flight."""
        self._terminate_by = by
        if self._execution is not None:
            self._execution.cancel()
        if self._run_task is not None:
            await asyncio.gather(asyncio.shield(self._run_task), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop now without recording anything (restart)."""
        self._accepting = False
        self._cancelled = True
        if self._execution is not None:
            self._execution.cancel()
        if self._run_task is not None:
            await asyncio.gather(asyncio.shield(self._run_task), return_exceptions=True)

    async def describe(self) -> list[StepInfo]:
        await self._opened.wait()
        if self._journal is None:
            return []
        return step_infos(self._journal)

    def pid(self) -> int:
        import os

        return os.getpid()


def _final(result: RunResult, started_at: float | None) -> InstanceOutcome:
    error = (
        (result.error_name or "Error", result.error_message or "") if result.error_name else None
    )
    return InstanceOutcome(result.status, output=result.output, error=error, started_at=started_at)


async def _open_journal(path: Path, wait: float = 10.0) -> DuckJournal:
    # A previous actor of this instance may still hold the file lock for a
    # moment while it exits; wait for it rather than fail the instance.
    deadline = time.monotonic() + wait
    while True:
        try:
            return DuckJournal(path)
        except JournalLocked:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _has_events_for(journal: DuckJournal, types: list[str]) -> bool:
    return any(e.type in types for e in journal.pending_events())
