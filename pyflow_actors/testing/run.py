"""One workflow instance run by the test harness: :class:`HarnessRun`.

It drives the real replay engine over an in-memory journal on the harness's
virtual clock, the way an instance actor drives it over its DuckDB journal: a
pause stops at a step boundary and a resume replays ``run()`` from the top;
terminate cancels the step in flight; restart erases the journal and starts
again with the same params. Its methods mirror the client's
:class:`~pyflow_actors.client.AsyncInstance` (``status()``, ``pause()``,
``send_event()``...) plus the waits and views a test needs.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import uuid
from typing import TYPE_CHECKING, Any

from .. import serialization
from ..engine.records import EventRecord, MemoryJournal, OutcomeKind, RunResult
from ..engine.replay import Execution, Outcome
from ..engine.rollback import roll_back_terminated
from ..entrypoint import Env, WorkflowEvent
from ..errors import (
    InstanceNotAcceptingEvents,
    InvalidTransition,
    StatusUnreachable,
    describe_exception,
    rebuild_error,
)
from ..limits import validate_event_type, validate_payload
from ..models import (
    FINAL_STATUSES,
    ErrorInfo,
    InstanceDetail,
    InstanceStatus,
    InstanceStatusInfo,
    StepInfo,
)
from ..storage.journal import DuckJournal, journal_path, step_infos
from .mocks import HarnessJournal, MockingStep, StepRunner

if TYPE_CHECKING:
    from .harness import WorkflowHarness


class HarnessRun:
    """A workflow instance in the harness. Create it with ``await harness.start(...)``."""

    def __init__(
        self,
        harness: WorkflowHarness,
        workflow: str,
        cls: type,
        instance_id: str,
        params: Any,
        env: Env,
    ) -> None:
        self.id, self.workflow = instance_id, workflow
        self._harness, self._cls, self._env, self._params = harness, cls, env, params
        self._created_at = harness.clock.now()
        self._started_at: float | None = None
        self._generation = 1
        self._duck: DuckJournal | None = None
        self._journal = self._new_journal()
        self._execution: Execution | None = None
        self._result: RunResult | None = None
        self._stop: str | None = None  # "terminate" | "rollback" (terminate with) | "restart"
        self._pause_requested = False
        self._paused = False
        self._hibernating = False
        self._busy = 0
        self._poke = asyncio.Event()  # a command or an event for a stopped run
        self._task = asyncio.ensure_future(self._drive())

    def __repr__(self) -> str:
        return f"<HarnessRun {self.workflow}/{self.id} {self.current_status}>"

    def __json__(self) -> dict[str, str]:
        """As the client's instance handle: a step may return it."""
        return {"id": self.id, "workflow": self.workflow}

    # -- what a test reads ---------------------------------------------------

    @property
    def current_status(self) -> InstanceStatus:
        """The status now (without waiting)."""
        if self._result is not None:
            return InstanceStatus(self._result.status)
        if self._paused:
            return InstanceStatus.PAUSED
        if self._pause_requested:
            return InstanceStatus.WAITING_FOR_PAUSE
        if self._hibernating or (self._busy == 0 and self._waits()):
            return InstanceStatus.WAITING
        return InstanceStatus.RUNNING

    async def status(self) -> InstanceStatusInfo:
        """Cloudflare's instance status: status, output, error, times."""
        result = self._result
        error = None
        if result is not None and result.error_name:
            error = ErrorInfo(name=result.error_name, message=result.error_message or "")
        return InstanceStatusInfo(
            id=self.id,
            workflow=self.workflow,
            status=self.current_status,
            error=error,
            output=serialization.loads(result.output) if result and result.output else None,
            created_at=self._created_at,
            started_at=self._started_at,
            ended_at=result.ended_at if result is not None else None,
        )

    async def describe(self) -> InstanceDetail:
        """Status, params and the step history (the client's ``describe``)."""
        return InstanceDetail(
            status=await self.status(), params=self._params, steps=await self.steps()
        )

    async def steps(self) -> list[StepInfo]:
        """The steps run so far, in the order they began, with their attempts."""
        return step_infos(self._journal)

    async def wait_for_status(
        self, status: InstanceStatus | str, *, timeout: float | None = None
    ) -> InstanceStatusInfo:
        """Wait (skipping virtual time while the workflow is idle) until ``status``.

        Raises :class:`~pyflow_actors.errors.StatusUnreachable` as soon as the
        instance ends in another final status.
        """
        target = InstanceStatus(status)

        def reached() -> bool | None:
            now = self.current_status
            if now == target:
                return True
            if now in FINAL_STATUSES and target != InstanceStatus.PAUSED:
                raise StatusUnreachable(self._unreachable(f"status {target}", now))
            return None

        await self._harness.until(reached, f"{self!r} to be {target}", timeout)
        return await self.status()

    async def wait(self, *, timeout: float | None = None) -> InstanceStatusInfo:
        """Wait until the instance is complete, errored or terminated."""
        await self._harness.until(
            lambda: True if self._result else None, f"{self!r} to finish", timeout
        )
        return await self.status()

    async def wait_for_step(
        self, name: str, *, occurrence: int = 1, timeout: float | None = None
    ) -> Any:
        """The result of step ``name`` (its ``occurrence``-th call) once it finished.

        A step that failed (its retries ran out) raises its error here.
        """
        key = name if occurrence == 1 else f"{name}-{occurrence}"

        def finished() -> Any:
            record = self._journal.steps().get(key)
            if record is not None and record.state != "running":
                return record
            if self._result is not None:
                raise StatusUnreachable(self._unreachable(f"step {key!r}", self.current_status))
            return None

        record = await self._harness.until(finished, f"step {key!r} of {self!r}", timeout)
        if record.state == "failed":
            raise rebuild_error(record.error_name or "Error", record.error_message or "")
        value = serialization.loads(record.output) if record.output is not None else None
        return value

    async def wait_for_step_start(
        self, name: str, *, occurrence: int = 1, timeout: float | None = None
    ) -> None:
        """Return once step ``name`` (its ``occurrence``-th call) has begun: to pause,
        terminate or send an event while it is in flight."""
        key = name if occurrence == 1 else f"{name}-{occurrence}"

        def started() -> bool | None:
            if key in self._journal.steps():
                return True
            if self._result is not None:
                raise StatusUnreachable(self._unreachable(f"step {key!r}", self.current_status))
            return None

        await self._harness.until(started, f"step {key!r} of {self!r} to start", timeout)

    # -- what a test does (the client's instance methods) --------------------

    async def send_event(self, type: str, payload: Any = None) -> None:  # noqa: A002 - Cloudflare's word
        """Deliver an event; sent before the matching wait, it is buffered."""
        validate_event_type(type)
        if self._result is not None:
            raise InstanceNotAcceptingEvents(
                f"instance {self.id!r} is {self.current_status}: it takes no more events"
            )
        self._add_event(type, payload)

    async def pause(self) -> None:
        """running -> waitingForPause (the step in flight finishes) -> paused."""
        self._must_be_live("paused")
        self._pause_requested = True
        if self._execution is not None:
            self._execution.request_pause()
        self._wake()

    async def resume(self) -> None:
        """Back where it was; a no-op when the instance is not paused."""
        if not self._pause_requested:
            return
        self._pause_requested = False
        if self._execution is not None:
            self._execution.cancel_pause()
        self._wake()

    async def terminate(self, rollback: bool = False) -> None:
        """Stop now (the step in flight is cancelled); final. ``rollback``: the
        rollback handlers of its finished steps run first (as in the engine)."""
        self._must_be_live("terminated")
        self._stop = "rollback" if rollback else "terminate"
        if self._execution is not None:
            self._execution.cancel()
        self._wake()
        await asyncio.shield(self._task)

    async def restart(self) -> None:
        """Erase the journal and run again from the start with the same params."""
        if self._task.done():
            self._reset()
            self._task = asyncio.ensure_future(self._drive())
            return
        self._stop = "restart"
        if self._execution is not None:
            self._execution.cancel()
        self._wake()

    async def close(self) -> None:
        """Stop the run without recording anything (end of the test)."""
        if self._execution is not None:
            self._execution.cancel()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self._duck is not None:
            self._duck.close()

    # -- the driver ------------------------------------------------------------

    async def _drive(self) -> None:
        try:
            await self._drive_until_final()
        except Exception as exc:  # noqa: BLE001 - a harness bug must show, not hang the test
            name, message = describe_exception(exc)
            ended_at = self._harness.clock.now()
            self._finish(RunResult(InstanceStatus.ERRORED, None, name, message, ended_at))

    async def _drive_until_final(self) -> None:
        clock = self._harness.clock
        self._started_at = self._started_at or clock.now()
        while True:
            if self._stop == "rollback":
                outcome = await self._run_once(rollback=True)
                if outcome.kind == OutcomeKind.HIBERNATE:  # a handler's retry delay
                    await self._hibernate(outcome)
                    continue
                self._stop = "terminate"
            if self._stop == "terminate":
                self._finish(RunResult(InstanceStatus.TERMINATED, ended_at=clock.now()))
                return
            if self._stop == "restart":
                self._reset()
            if self._pause_requested:
                await self._stay_paused()
                continue
            outcome = await self._run_once()
            if self._stop is not None:
                continue
            final = OutcomeKind(outcome.kind).final_status
            if final is not None:
                name, message = outcome.error or (None, None)
                self._finish(RunResult(final, outcome.output, name, message, clock.now()))
                return
            if outcome.kind == "hibernate":
                await self._hibernate(outcome)

    async def _run_once(self, rollback: bool = False) -> Outcome:
        harness = self._harness
        workflow = self._cls(self._env)
        execution = Execution(
            workflow,
            self._event(),
            self._journal,
            hibernate_after=harness.hibernate_after,
            limits=harness.limits,
            clock=harness.clock,
        )
        runner = StepRunner(harness.mocks, self._journal, self._count_busy)
        execution.step = MockingStep(execution, runner)
        if self._pause_requested:
            execution.request_pause()
        self._execution = execution
        try:
            return await (roll_back_terminated(execution) if rollback else execution.run())
        finally:
            self._execution = None
            harness.notify()

    async def _stay_paused(self) -> None:
        self._paused = True
        self._harness.notify()
        while self._pause_requested and self._stop is None:
            await self._wait_for_poke()
        self._paused = False

    async def _hibernate(self, outcome: Outcome) -> None:
        """Like the engine: no process until the alarm or a matching event; then replay."""
        self._hibernating = True
        clock, wake_at = self._harness.clock, outcome.wake_at or 0.0
        alarm = asyncio.ensure_future(clock.sleep(wake_at - clock.now()))
        try:
            while (
                not alarm.done() and self._stop in (None, "rollback") and not self._pause_requested
            ):
                if any(e.type in outcome.waiting_for for e in self._journal.pending_events()):
                    break
                poke = asyncio.ensure_future(self._wait_for_poke())
                await asyncio.wait({alarm, poke}, return_when=asyncio.FIRST_COMPLETED)
                poke.cancel()
        finally:
            alarm.cancel()
            self._hibernating = False

    async def _wait_for_poke(self) -> None:
        self._poke.clear()
        await self._poke.wait()

    # -- helpers ---------------------------------------------------------------

    def _new_journal(self) -> HarnessJournal:
        journal = HarnessJournal(self._open_backing(), self._harness.notify)
        for type_, payload in self._harness.mocked_events:
            journal.add_events([self._event_record(type_, payload)])
        return journal

    def _open_backing(self) -> Any:
        """A new journal (restart: the same file, erased), stamped as an instance actor does."""
        root = self._harness.journals
        if root is None:
            return MemoryJournal()
        if self._duck is None:
            self._duck = DuckJournal(journal_path(root, self.workflow, self.id))
        else:
            self._duck.reset(self._generation)
        self._duck.set_meta(
            workflow=self.workflow,
            instance_id=self.id,
            params=validate_payload(self._params, "params"),
            created_at=self._created_at,
            generation=self._generation,
            started_at=self._harness.clock.now(),
        )
        return self._duck

    def _reset(self) -> None:
        self._generation += 1
        self._journal = self._new_journal()
        self._stop, self._result, self._pause_requested = None, None, False
        self._started_at = self._harness.clock.now()

    def _event(self) -> WorkflowEvent:
        created = _dt.datetime.fromtimestamp(self._created_at, _dt.timezone.utc)
        params = serialization.loads(validate_payload(self._params, "params"))
        return WorkflowEvent(params, created, self.id, self.workflow)

    def _event_record(self, type_: str, payload: Any) -> EventRecord:
        text = validate_payload(payload, "event payload")
        return EventRecord(uuid.uuid4().hex, type_, text, self._harness.clock.now())

    def _add_event(self, type_: str, payload: Any) -> None:
        new = self._journal.add_events([self._event_record(type_, payload)])
        if self._execution is not None:
            self._execution.deliver(new)
        self._wake()

    def _finish(self, result: RunResult) -> None:
        self._journal.backing.set_result(result)  # type: ignore[attr-defined]
        self._result = result
        self._harness.notify()

    def _wake(self) -> None:
        self._poke.set()
        self._harness.notify()

    def _count_busy(self, delta: int) -> None:
        self._busy += delta
        self._harness.count_busy(delta)

    def _waits(self) -> bool:
        """A branch sleeps, waits for an event or for a retry, and no step code runs."""
        for record in self._journal.steps().values():
            if record.state != "running":
                continue
            if record.kind != "step":
                return True
            if record.attempts and all(a.ended_at is not None for a in record.attempts):
                return True
        return False

    def _must_be_live(self, verb: str) -> None:
        if self._result is not None:
            raise InvalidTransition(
                f"instance {self.id!r} is {self.current_status}: it cannot be {verb}"
            )

    def _unreachable(self, what: str, now: InstanceStatus) -> str:
        error = ""
        if self._result is not None and self._result.error_name:
            error = f" ({self._result.error_name}: {self._result.error_message})"
        return f"waited for {what} of instance {self.id!r}, but it ended {now}{error}"
