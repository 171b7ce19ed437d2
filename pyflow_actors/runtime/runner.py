"""The instance runner: runs one workflow instance, wherever it is placed.

It owns the instance's journal (nobody else writes it), runs the workflow's
``run()`` through the replay engine, and returns when the instance is final,
paused, cancelled, or hibernating. A dedicated instance actor (``instance.py``)
holds one runner; the process then goes away. ``prepare`` warms a runner up
(workflow class loaded, journal open) before it is admitted to run.

Kept cheap to import: an actor is a fresh process, so this module imports only
the engine, the journal and what the workflow itself imports.

A terminate with rollback is journaled first (meta ``rollback``), then the run
replays ``run()`` to find the rollback handlers and runs them (see
``engine/rollback.py``); a process that dies meanwhile leaves the mark, and the
next one goes on with the rollback.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import instance_logs, serialization
from ..config import add_code_paths
from ..engine import EventRecord, Execution, Outcome, RunResult
from ..engine.rollback import roll_back_terminated
from ..engine.waits import WaitSummary
from ..entrypoint import Env, WorkflowEvent
from ..errors import JournalLocked
from ..statuses import InstanceStatus
from ..storage.formats import KEY as FORMAT_KEY
from ..storage.journal import DuckJournal, step_infos
from ..upgrade.check import check_journal
from .bindings import lazy_bindings
from .protocol import InstanceOutcome, InstanceSetup, OutcomeKind, RunRequest

if TYPE_CHECKING:
    from ..models import StepInfo

log = logging.getLogger("pyflow.instance")

JOURNAL_LOCK_WAIT = 10.0  # seconds to wait for an exiting actor to let go of the file
ROLLBACK_META = "rollback"  # journal meta key: "terminate" once a terminate asked for a rollback


class InstanceRunner:
    """Runs one instance; the supervisor calls it only through its actors wrapper."""

    def __init__(self, setup: InstanceSetup) -> None:
        self.setup = setup
        self._journal: DuckJournal | None = None
        self._execution: Execution | None = None
        self._run_task: asyncio.Future[InstanceOutcome] | None = None
        self._prepared: asyncio.Future[type] | None = None
        self._accepting = True
        self._pause = False
        self._terminating = False
        self._rollback = False  # a terminate with rollback was asked for
        self._cancelled = False
        self._opened = asyncio.Event()
        self._generation = 0
        self._wait: WaitSummary | None = None
        self._wait_reports = 0
        instance_logs.install()  # print() and logging of the instance's code go to its log

    # -- the run --------------------------------------------------------------

    async def prepare(self) -> None:
        """Load the workflow class and open the journal, without running anything."""
        await self._workflow_class()

    def _workflow_class(self) -> asyncio.Future[type]:
        if self._prepared is None:
            self._prepared = asyncio.ensure_future(self._prepare())
        return asyncio.shield(self._prepared)

    async def _prepare(self) -> type:
        add_code_paths(self.setup.code_paths)
        workflow_class = self.setup.spec.load()
        self._journal = await _open_journal(Path(self.setup.journal_path))
        return workflow_class

    async def run(self, request: RunRequest) -> InstanceOutcome:
        """Run (or keep running) the instance; idempotent so a new supervisor can re-attach."""
        if self._run_task is None:
            self._run_task = asyncio.ensure_future(self._logged_run(request))
        return await asyncio.shield(self._run_task)

    async def _logged_run(self, request: RunRequest) -> InstanceOutcome:
        setup = self.setup
        storage = Path(setup.journal_path).parents[2]  # <storage>/journals/<workflow>/<id>.duckdb
        with instance_logs.instance_scope(storage, setup.workflow, setup.instance_id):
            return await self._run(request)

    async def _run(self, request: RunRequest) -> InstanceOutcome:
        try:
            started_at = await self._open(request)
            self._opened.set()
            assert self._journal is not None
            done = self._journal.result()
            if done is not None:
                return _final(done, started_at)
            if self.setup.check_replay:  # started on other code: does its journal still fit?
                diverged = await self._check_replay(started_at)
                if diverged is not None:
                    return diverged
            if request.rollback or self._journal.meta().get(ROLLBACK_META):
                self._rollback = True
            outcome = None if self._rollback else await self._run_until_stopped()
            if self._rollback and not (self._terminating or self._cancelled):
                outcome = await self._roll_back_terminated()
            return self._conclude(outcome, started_at)
        finally:
            self._accepting = False
            self._opened.set()

    async def _open(self, request: RunRequest) -> float:
        """Open the journal, start a new generation in it if asked; the start time."""
        self._generation = request.generation
        await self._workflow_class()
        journal = self._journal
        assert journal is not None
        meta, now = journal.meta(), time.time()
        if int(meta.get("generation") or 0) < request.generation:
            if meta.keys() - {FORMAT_KEY}:  # a history to erase (a new file has none)
                journal.reset(request.generation, request.keep_before)  # a restart
            journal.set_meta(  # one commit with the start time (issue 17's profile)
                workflow=self.setup.workflow,
                instance_id=self.setup.instance_id,
                params=request.params if request.params is not None else "null",
                created_at=request.created_at,
                generation=request.generation,
                version_id=self.setup.version_id,  # which code `pyflow check` replays it on
                schedule=request.schedule,
                started_at=now,
            )
            return now
        started = meta.get("started_at")
        if started:
            return float(started)
        journal.set_meta(started_at=now)
        return now

    async def _new_execution(self) -> Execution:
        assert self._journal is not None
        execution = Execution(
            (await self._workflow_class())(self._env()),
            self._event(),
            self._journal,
            hibernate_after=self.setup.hibernate_after,
            limits=self.setup.limits,
        )
        if self._pause:
            execution.request_pause()
        execution.on_wait = self._on_wait
        execution.on_rollback = self._on_rollback
        self._execution = execution
        return execution

    async def _run_until_stopped(self) -> Outcome | None:
        """Run the workflow until it ends or stops; ``None``: stopped before it ran."""
        assert self._journal is not None
        while not (self._terminating or self._cancelled or self._rollback):
            outcome = await (await self._new_execution()).run()
            if (
                not self._rollback
                and not self._terminating
                and OutcomeKind(outcome.kind) == OutcomeKind.HIBERNATE
                and _has_events_for(self._journal, outcome.waiting_for)
            ):
                continue  # an event arrived while stopping: go on at once
            return outcome
        return None

    async def _roll_back_terminated(self) -> Outcome:
        """Terminate with rollback: the handlers of its finished steps, then terminated
        (or how the run stopped first: a handler's retry delay hibernates it)."""
        assert self._journal is not None
        self._journal.set_meta(**{ROLLBACK_META: "terminate"})  # the journal first
        execution = await self._new_execution()
        self._on_rollback()
        return await roll_back_terminated(execution)

    async def _check_replay(self, started_at: float) -> InstanceOutcome | None:
        """Replay the journal on the code without running steps; on a divergence the
        instance errors with ``replay.diverged``, or pauses (``on_divergence = "pause"``)."""
        assert self._journal is not None
        workflow = (await self._workflow_class())(self._env())
        result = await check_journal(
            workflow, self._event(), self._journal, limits=self.setup.limits
        )
        if result.compatible:
            return None
        error = result.error(self.setup.workflow, self.setup.instance_id)
        described = (type(error).__name__, error.message)
        if self.setup.on_divergence == "pause":
            return InstanceOutcome(OutcomeKind.PAUSED, error=described, started_at=started_at)
        return self._conclude(Outcome(OutcomeKind.ERRORED, error=described), started_at)

    def _conclude(self, outcome: Outcome | None, started_at: float) -> InstanceOutcome:
        """Journal the end of a run (final ones) and say how it ended. No await here:
        nothing may slip in between the last check and the answer."""
        assert self._journal is not None
        self._accepting = False
        final = None if outcome is None else OutcomeKind(outcome.kind).final_status
        if self._terminating:
            result = RunResult(InstanceStatus.TERMINATED, ended_at=time.time())
        elif outcome is None:
            return InstanceOutcome(OutcomeKind.CANCELLED, started_at=started_at)
        elif final is not None:
            name, message = outcome.error if outcome.error else (None, None)
            result = RunResult(
                final,  # complete | errored
                output=outcome.output,
                error_name=name,
                error_message=message,
                ended_at=time.time(),
            )
        else:
            return InstanceOutcome(
                OutcomeKind(outcome.kind),
                wake_at=outcome.wake_at,
                waiting_for=list(outcome.waiting_for),
                started_at=started_at,
            )
        self._journal.set_result(result)
        return _final(result, started_at)

    def _on_wait(self, wait: WaitSummary | None) -> None:
        """Tell the supervisor when the run waits in this process, or works again."""
        if wait == self._wait:
            return
        self._wait, self._wait_reports = wait, self._wait_reports + 1
        asyncio.ensure_future(self._tell("note_wait", report=self._wait_reports, wait=wait))

    def current_wait(self) -> tuple[int, int, WaitSummary | None]:
        """What the run last told the supervisor it waits for in this process:
        ``(generation, report, wait)``, ``wait`` None while it works (or once its run
        ended). A restarted supervisor asks it of the actor it adopts: the notices
        sent while no supervisor listened were lost."""
        running = self._run_task is not None and not self._run_task.done()
        return self._generation, self._wait_reports, self._wait if running else None

    def _on_rollback(self) -> None:
        """Tell the supervisor the run runs rollback handlers (status rollingBack)."""
        asyncio.ensure_future(self._tell("note_rollback"))

    async def _tell(self, method: str, **details: Any) -> None:
        import ray  # the process is a Ray worker already; the module stays light

        if not ray.is_initialized():
            return  # run outside Ray (tests of a host in-process): no supervisor to tell
        try:
            supervisor = ray.get_actor(self.setup.supervisor_name, namespace=self.setup.namespace)
            await getattr(supervisor, method).remote(
                workflow=self.setup.workflow,
                instance_id=self.setup.instance_id,
                generation=self._generation,
                **details,
            )
        except Exception:  # noqa: BLE001 - a view only: the status catches up when it ends
            log.debug("could not %s of %s", method, self.setup.instance_id, exc_info=True)

    def _event(self) -> WorkflowEvent:
        assert self._journal is not None
        meta = self._journal.meta()
        return WorkflowEvent(
            serialization.loads(meta.get("params") or "null"),
            _dt.datetime.fromtimestamp(float(meta["created_at"]), _dt.timezone.utc),
            self.setup.instance_id,
            self.setup.workflow,
            schedule=serialization.loads(meta["schedule"]) if meta.get("schedule") else None,
        )

    def _env(self) -> Env:
        values: dict[str, Any] = dict(self.setup.vars)
        setup = self.setup
        values.update(lazy_bindings(setup.bindings, setup.supervisor_name, setup.namespace))
        return Env(values)

    # -- commands from the supervisor -----------------------------------------

    async def deliver(self, events: list[EventRecord]) -> bool:
        """Journal events and hand them to waits. False: not live any more, keep them."""
        await self._opened.wait()
        if not self._accepting or self._journal is None:
            return False
        new = self._journal.add_events(events)
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

    async def terminate(self, rollback: bool = False) -> None:
        """Journal the termination, then stop the step in flight. With ``rollback``
        the run goes on with the rollback handlers, then ends terminated: this
        returns without waiting for them."""
        if not rollback:
            self._terminating = True
            await self._stop()
            return
        self._rollback = True
        if self._journal is not None and self._accepting:
            self._journal.set_meta(**{ROLLBACK_META: "terminate"})
        if self._execution is not None:
            self._execution.cancel()

    async def cancel(self) -> None:
        """Stop now without recording anything (restart)."""
        self._accepting = False
        self._cancelled = True
        await self._stop()

    async def _stop(self) -> None:
        if self._execution is not None:
            self._execution.cancel()
        if self._run_task is not None:
            await asyncio.gather(asyncio.shield(self._run_task), return_exceptions=True)

    async def describe(self) -> list[StepInfo]:
        await self._opened.wait()
        if self._journal is None:
            return []
        return step_infos(self._journal)


def _final(result: RunResult, started_at: float | None) -> InstanceOutcome:
    error = (
        (result.error_name or "Error", result.error_message or "") if result.error_name else None
    )
    return InstanceOutcome(
        OutcomeKind(result.status), output=result.output, error=error, started_at=started_at
    )


async def _open_journal(path: Path, wait: float = JOURNAL_LOCK_WAIT) -> DuckJournal:
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
