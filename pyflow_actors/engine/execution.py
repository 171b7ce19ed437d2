"""One run of one instance against its journal: :class:`Execution` (its :class:`Outcome`).

How a run goes:

* ``run()`` executes from the top every time the instance is (re)hydrated.
  Each step call gets a cache key (see :mod:`.step`). A step the journal has
  finished returns its recorded output (or re-raises its recorded error)
  without running.
* New results are written to the journal *before* workflow code sees them.
* Waits (sleeps, retry delays, ``wait_for_event``) shorter than
  ``hibernate_after`` are slept in-process. When no step code is running and
  every branch of the workflow waits on something that will take longer, the
  run stops and returns a ``hibernate`` outcome with the earliest wake time:
  the caller persists the alarm and lets the process go.
* ``request_pause()`` lets step attempts in flight finish, starts no new
  ones, and then returns a ``paused`` outcome.
* ``cancel()`` stops the run now; a write the journal refuses stops it with
  :class:`~pyflow_actors.errors.StorageUnavailable`.
* When ``run()`` fails, the rollback handlers of its steps run before the
  outcome is ``errored`` (see :mod:`.rollback`, which also drives a terminate
  with rollback through :attr:`Execution.replay_only`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any, Literal, cast

from .. import instance_logs, serialization
from .. import step as interface
from ..constants import DEFAULT_HIBERNATE_AFTER
from ..durations import format_duration
from ..errors import (
    NonRetryableError,
    PyflowError,
    RetryDelayFailed,
    StepOutputError,
    StorageUnavailable,
    describe_exception,
    rebuild_error,
)
from ..limits import DEFAULT_LIMITS, Limits, encode_json
from .attempts import encode_output, end_attempt, run_attempt
from .clock import SYSTEM_CLOCK, Clock, wait_for
from .records import (
    AttemptRecord,
    EventRecord,
    GuardedJournal,
    Journal,
    Outcome,
    OutcomeKind,
    StepKind,
    StepRecord,
)
from .rollback import roll_back
from .step import ReplayStep, StepCallable
from .step_config import retry_delay
from .waits import Waiter, WaitSummary, event_result, match_events, wait_summary


class Execution:
    """One run of one instance against its journal."""

    def __init__(
        self,
        workflow: Any,
        event: Any,
        journal: Journal,
        *,
        hibernate_after: float = DEFAULT_HIBERNATE_AFTER,
        limits: Limits = DEFAULT_LIMITS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.workflow, self.event = workflow, event
        # A proxy with every Journal method (by __getattr__), which pyright cannot see.
        self.journal = cast(Journal, GuardedJournal(journal, self._storage_failed))
        self._storage_error: StorageUnavailable | None = None
        self.hibernate_after, self.limits = hibernate_after, limits
        self.time: Clock = clock  # every wait goes through it; self.clock() reads it
        self.clock = clock.now
        self.journal_steps = journal.steps()
        self._seq = max((r.seq for r in self.journal_steps.values()), default=0)
        self._inbox: list[EventRecord] = list(journal.pending_events())
        self._waiters: list[Waiter] = []
        # Told (wake_at, event types) when the run waits in this process, None when busy.
        self.on_wait: Callable[[WaitSummary | None], None] | None = None
        self._in_flight = 0
        self._generation = 0
        self._changed = asyncio.Event()
        self._pause_requested = False
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._task: asyncio.Task[Outcome] | None = None
        self._step_tasks: set[asyncio.Future[Any]] = set()
        self._stop_kind: OutcomeKind | None = None
        self.step = ReplayStep(self)
        # Replaying only (a terminate with rollback): new work waits; the run stops when quiet.
        self.replay_only = False
        self.on_rollback: Callable[[], None] | None = None  # told when handlers start to run

    # -- control from outside ----------------------------------------------

    def request_pause(self) -> None:
        """Let attempts in flight finish, start no new one, then return ``paused``."""
        self._pause_requested = True
        self._unpaused.clear()
        self._bump()

    def cancel_pause(self) -> None:
        """Withdraw a pause request: waiting attempts start again."""
        self._pause_requested = False
        self._unpaused.set()
        self._bump()

    def cancel(self) -> None:
        """Stop the run now (terminate, restart): step attempts in flight are cancelled."""
        self._stop_kind = OutcomeKind.CANCELLED
        if self._task is not None:
            self._task.cancel()
        self._bump()

    def track(self, task: asyncio.Future[Any]) -> None:
        """Own a running step: it is cancelled when the run stops."""
        self._step_tasks.add(task)
        task.add_done_callback(self._step_tasks.discard)

    def deliver(self, events: list[EventRecord]) -> None:
        """Events already in the journal; hand them to waits (FIFO per type)."""
        self._inbox.extend(events)
        self._inbox.sort(key=lambda e: e.seq)
        self._match_events()
        self._bump()

    # -- the driver ---------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._stop_kind is OutcomeKind.CANCELLED

    async def run(self, main: Coroutine[Any, Any, Outcome] | None = None) -> Outcome:
        """Run ``run(event, step)`` (or ``main``) until it ends, hibernates, pauses or
        is cancelled."""
        self._task = asyncio.ensure_future(main if main is not None else self._main())
        try:
            while not self._task.done() and self._storage_error is None:
                self._changed.clear()
                changed = asyncio.ensure_future(self._changed.wait())
                decide_in = self._next_decision_in()
                timer = asyncio.ensure_future(self.time.sleep(decide_in)) if decide_in else changed
                await asyncio.wait(
                    {self._task, changed, timer}, return_when=asyncio.FIRST_COMPLETED
                )
                changed.cancel()
                timer.cancel()
                if self._task.done() or self._stop_kind is OutcomeKind.CANCELLED:
                    break
                quiet = self._in_flight == 0 and await self._quiet()
                outcome = self._stop_outcome() if quiet else None
                if outcome is not None:
                    await self._cancel_all()
                    return outcome
                if self.on_wait is not None:  # waiting in this process, or busy again
                    self.on_wait(wait_summary(self._waiters) if quiet else None)
        finally:
            await self._cancel_all()
        if self._storage_error is not None:
            raise self._storage_error  # not the workflow's fault: the caller retries later
        if self._stop_kind is OutcomeKind.CANCELLED or self._task.cancelled():
            return Outcome(OutcomeKind.CANCELLED)
        return self._task.result()

    def _storage_failed(self, exc: StorageUnavailable) -> None:
        """The journal refused a write: stop the run (workflow code may catch the
        error, but must not go on without its journal)."""
        if self._storage_error is None:
            self._storage_error = exc
            if self._task is not None:
                self._task.cancel()
            self._bump()

    async def _cancel_all(self) -> None:
        pending = [t for t in (self._task, *self._step_tasks) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _main(self) -> Outcome:
        try:
            result = await self.workflow.run(self.event, self.step)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any user error ends the run as errored
            error = (
                (type(exc).__name__, exc.message)
                if isinstance(exc, PyflowError)
                else describe_exception(exc)
            )
            if not self.replay_only:
                await roll_back(self, error)  # the handlers of its steps first, LIFO
            return Outcome(OutcomeKind.ERRORED, error=error)
        try:
            text = encode_json(result, "workflow output", self.limits.max_step_output_bytes)
        except PyflowError as exc:
            return Outcome(OutcomeKind.ERRORED, error=(type(exc).__name__, exc.message))
        return Outcome(OutcomeKind.COMPLETE, output=text)

    def _next_decision_in(self) -> float | None:
        at = min((w.hibernatable_at(self.hibernate_after) for w in self._waiters), default=math.inf)
        if math.isinf(at):
            return None
        return max(0.0, at - self.clock()) + 0.001

    async def _quiet(self) -> bool:
        """True when run() has settled: no branch is about to start new work."""
        for _ in range(3):
            generation = self._generation
            for _ in range(4):
                await asyncio.sleep(0)
            if self._task is None or self._task.done() or self._in_flight:
                return False
            if generation == self._generation:
                return True
        return False

    def _stop_outcome(self) -> Outcome | None:
        if self.replay_only:  # every branch reached the end of the journal
            return Outcome(OutcomeKind.CANCELLED)
        if self._pause_requested:
            self._stop_kind = OutcomeKind.PAUSED
            return Outcome(OutcomeKind.PAUSED)
        if not self._waiters:
            return None
        now = self.clock()
        if all(w.hibernatable(now, self.hibernate_after) for w in self._waiters):
            self._stop_kind = OutcomeKind.HIBERNATE
            types = sorted({w.event_type for w in self._waiters if w.event_type})
            return Outcome(
                OutcomeKind.HIBERNATE,
                wake_at=min(w.deadline for w in self._waiters),
                waiting_for=types,
            )
        return None

    def _bump(self) -> None:
        self._generation += 1
        self._changed.set()

    # -- replay -------------------------------------------------------------

    def replayed(self, record: StepRecord) -> Any:
        """A finished step's recorded output, or its recorded error raised."""
        if record.state == "complete":
            value = serialization.loads(record.output)
            if record.kind == "waitForEvent" and isinstance(value, dict):
                value = event_result(value)
            return value
        raise rebuild_error(record.error_name or "Error", record.error_message or "")

    def _new_record(self, **kwargs: Any) -> StepRecord:
        self._seq += 1
        record = StepRecord(seq=self._seq, started_at=self.clock(), **kwargs)
        self.journal.begin_step(record)
        self.journal_steps[record.key] = record
        return record

    def mark_patch(self, key: str, name: str) -> None:
        """Journal that this instance takes the new path of ``step.patched(name)``."""
        if not self.replay_only:
            self._new_record(key=key, name=name, kind="patch", state="complete")

    # -- step.do ------------------------------------------------------------

    async def new_work(self) -> None:
        """Where a step would start new work: replaying only, it waits forever."""
        if self.replay_only:
            self._bump()
            await asyncio.get_running_loop().create_future()

    async def execute_step(
        self,
        key: str,
        step: StepCallable,
        args: list[Any],
        record: StepRecord | None,
        kind: StepKind = "step",
    ) -> Any:
        """Run a step's attempts (or a rollback handler's), with its retries and
        timeout, journaling each one."""
        await self.new_work()
        config = step._config
        if record is None:
            record = self._new_record(
                key=key, name=step.name, kind=kind, config=config.journal_text
            )
        # An attempt that was started but never ended died with its process.
        for attempt in record.attempts:
            if attempt.ended_at is None:
                self.journal.mark_interrupted(key, attempt.n, self.clock())
                attempt.ended_at, attempt.interrupted = self.clock(), True
                attempt.error_name = "Interrupted"
                attempt.error_message = "the instance's process died during this attempt"
        while True:
            failures = [a for a in record.attempts if a.failed]
            if failures:
                last_failure_at = failures[-1].ended_at
                assert last_failure_at is not None  # a failed attempt has ended
                try:
                    pause = await retry_delay(config, step.name, key, failures[-1], len(failures))
                except RetryDelayFailed as exc:
                    error = (type(exc).__name__, exc.message)
                    self.journal.finish_step(key, "failed", self.clock(), error=error)
                    record.state, record.ended_at = "failed", self.clock()
                    record.error_name, record.error_message = error
                    raise rebuild_error(*error) from None
                await self._wait("retry", last_failure_at + pause, key=key)
            await self._gate()
            attempt = AttemptRecord(n=len(record.attempts) + 1, started_at=self.clock())
            self.journal.begin_attempt(key, attempt)
            if attempt not in record.attempts:  # MemoryJournal shares the list
                record.attempts.append(attempt)
            self._in_flight += 1
            self._bump()
            try:
                with instance_logs.step_scope(key):  # names the step in what it prints
                    ctx = config.context_of(step.name, key, attempt.n)
                    value = await run_attempt(
                        step._fn, step.name, args, config.timeout, ctx, self.time
                    )
                decoded, text = encode_output(key, value, self.limits)
            except asyncio.CancelledError:
                raise
            except NonRetryableError as exc:
                error = describe_exception(exc)
                self._end(record, attempt, error, finish="failed")
                raise rebuild_error(*error) from exc
            except Exception as exc:  # noqa: BLE001 - user step code may raise anything
                error = describe_exception(exc)
                final = isinstance(exc, StepOutputError) or len(failures) + 1 > config.limit
                self._end(record, attempt, error, finish="failed" if final else None)
                if final:
                    raise rebuild_error(*error) from exc
                continue
            finally:
                self._in_flight -= 1
                self._bump()
            self._end(record, attempt, None, finish="complete", output=text)
            return decoded

    def _end(self, record: StepRecord, attempt: AttemptRecord, *args: Any, **kw: Any) -> None:
        end_attempt(self.journal, record, attempt, self.clock(), *args, **kw)

    # -- waits --------------------------------------------------------------

    async def _gate(self) -> None:
        """Where a pause takes effect: no new attempt starts while pausing."""
        while self._pause_requested:
            # Wake the driver: with a pause requested before run() started, no
            # other change would tell it that this branch now waits (it hung).
            self._bump()
            await self._unpaused.wait()

    async def _wait(
        self, kind: Literal["sleep", "retry"], deadline: float, *, key: str | None = None
    ) -> None:
        remaining = deadline - self.clock()
        if remaining <= 0:
            return
        waiter = Waiter(
            kind, deadline, self.clock(), asyncio.get_running_loop().create_future(), key=key
        )
        self._waiters.append(waiter)
        self._bump()
        try:
            await self.time.sleep(remaining)
        finally:
            self._waiters.remove(waiter)
            self._bump()

    async def sleep(self, key: str, name: str, wake: Callable[[float], float]) -> None:
        """Sleep until ``wake(now)``, computed on the first run and journaled."""
        record = self.journal_steps.get(key)
        if record is None or record.state != "complete":
            await self.new_work()
        if record is None:
            record = self._new_record(key=key, name=name, kind="sleep", wake_at=wake(self.clock()))
        if record.state == "complete":
            return
        await self._wait("sleep", record.wake_at or 0.0, key=key)
        now = max(self.clock(), record.wake_at or 0.0)
        self.journal.finish_step(key, "complete", now)
        record.state, record.ended_at = "complete", now

    async def wait_for_event(
        self, key: str, name: str, event_type: str, timeout: float
    ) -> interface.WorkflowStepEvent:
        """Wait up to ``timeout`` seconds for an event of ``event_type`` (journaled)."""
        record = self.journal_steps.get(key)
        if record is None or record.state == "running":
            await self.new_work()
        if record is None:
            record = self._new_record(
                key=key,
                name=name,
                kind="waitForEvent",
                event_type=event_type,
                wake_at=self.clock() + timeout,
            )
        if record.state != "running":
            consumed: interface.WorkflowStepEvent = self.replayed(record)
            return consumed
        now = self.clock()
        waiter = Waiter(
            "event",
            record.wake_at or now,
            now,
            asyncio.get_running_loop().create_future(),
            event_type=event_type,
            key=key,
        )
        self._waiters.append(waiter)
        self._match_events()
        self._bump()
        try:
            remaining = (record.wake_at or now) - self.clock()
            if not waiter.future.done() and remaining <= 0:
                raise asyncio.TimeoutError
            return await wait_for(self.time, asyncio.shield(waiter.future), max(remaining, 0))
        except asyncio.TimeoutError:
            if waiter.future.done():  # an event won the race with the deadline
                return waiter.future.result()
            error = (
                "WaitForEventTimeout",
                f"wait_for_event {key!r} timed out after {format_duration(timeout)} "
                f"waiting for an event of type {event_type!r}",
            )
            self.journal.finish_step(key, "failed", self.clock(), error=error)
            record.state, record.ended_at = "failed", self.clock()
            record.error_name, record.error_message = error
            raise rebuild_error(*error) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            self._bump()

    def _match_events(self) -> None:
        match_events(self._waiters, self._inbox, self.journal, self.journal_steps, self.clock)
