"""The replay engine: runs a workflow's ``run(event, step)`` against its journal.

Pure Python and asyncio, no Ray. The same engine runs inside an instance actor
and in unit tests (with :class:`~pyflow_actors.engine.records.MemoryJournal`).

How a run goes:

* ``run()`` executes from the top every time the instance is (re)hydrated.
  Each step call gets a cache key: its name, then ``name-2``, ``name-3``...
  for later occurrences. A step the journal has finished returns its recorded
  output (or re-raises its recorded error) without running.
* New results are written to the journal *before* workflow code sees them.
* Waits (sleeps, retry delays, ``wait_for_event``) shorter than
  ``hibernate_after`` are slept in-process. When no step code is running and
  every branch of the workflow waits on something that will take longer, the
  run stops and returns a ``hibernate`` outcome with the earliest wake time:
  the caller persists the alarm and lets the process go.
* ``request_pause()`` lets step attempts in flight finish, starts no new
  ones, and then returns a ``paused`` outcome.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import inspect
import math
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .. import instance_logs, serialization
from .. import step as interface
from ..constants import DEFAULT_HIBERNATE_AFTER
from ..durations import (
    Duration,
    format_duration,
    parse_duration,
    parse_milliseconds,
    to_epoch_seconds,
    warn_unit_once,
)
from ..errors import (
    NonRetryableError,
    PyflowError,
    RetryDelayFailed,
    StepOutputError,
    StepTimeout,
    StorageUnavailable,
    ValidationError,
    describe_exception,
    rebuild_error,
)
from ..limits import (
    DEFAULT_LIMITS,
    Limits,
    encode_json,
    validate_event_timeout,
    validate_event_type,
    validate_sleep_seconds,
    validate_step_name,
)
from .clock import SYSTEM_CLOCK, Clock, wait_for
from .records import AttemptRecord, EventRecord, Journal, OutcomeKind, StepRecord, StepState
from .step_config import StepConfig, retry_delay
from .step_context import step_arguments, step_context

# StepConfig lives in .step_config; it is re-exported here for older imports.
__all__ = ["Execution", "Outcome", "ReplayStep", "StepCallable", "StepConfig"]

# ---------------------------------------------------------------------------
# Outcomes


@dataclass
class Outcome:
    """How a run ended for now.

    ``complete``/``errored`` are final; ``hibernate`` means "wake me at
    ``wake_at`` or when an event of a type in ``waiting_for`` arrives";
    ``paused`` means the run stopped at a step boundary on request;
    ``cancelled`` means it was stopped by the caller (terminate, restart).
    """

    kind: OutcomeKind
    output: str | None = None  # JSON text
    error: tuple[str, str] | None = None
    wake_at: float | None = None
    waiting_for: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Waiters


@dataclass(eq=False)
class _Waiter:
    kind: Literal["sleep", "retry", "event"]
    deadline: float
    since: float  # when this process began waiting
    future: asyncio.Future[interface.WorkflowStepEvent]
    event_type: str | None = None
    key: str | None = None

    def hibernatable(self, now: float, hibernate_after: float) -> bool:
        if self.kind == "event":
            # A live instance keeps listening for a while: quick replies are
            # delivered without a new process. Then it hibernates.
            return now - self.since >= hibernate_after
        return self.deadline - now > hibernate_after

    def hibernatable_at(self, hibernate_after: float) -> float:
        if self.kind == "event":
            return self.since + hibernate_after
        return math.inf


# ---------------------------------------------------------------------------
# The step object handed to run()


class StepCallable(interface.Step[Any]):
    """What ``@step.do(name)`` returns: call it (or await it) to run the step."""

    def __init__(
        self,
        step: ReplayStep,
        name: str,
        fn: Callable[..., Any],
        depends: tuple[StepCallable, ...],
        concurrent: bool,
        config: StepConfig,
    ) -> None:
        self._step, self.name, self._fn = step, name, fn
        self._depends, self._concurrent, self._config = depends, concurrent, config
        self._first: asyncio.Future[Any] | None = None
        self.__name__ = getattr(fn, "__name__", name)
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self) -> Awaitable[Any]:
        key = self._step._allocate(self.name, counts_as_step=True)
        coro = self._step._run_step(key, self)
        task = asyncio.ensure_future(coro)
        self._step._x.track(task)
        if self._first is None:
            self._first = task
        return task

    def __await__(self) -> Generator[Any, None, Any]:
        return self().__await__()

    async def _dependency_result(self) -> Any:
        # A dependency that already ran (or is running) in this run is reused.
        if self._first is None:
            return await self()
        return await asyncio.shield(self._first)

    def __repr__(self) -> str:
        return f"<step {self.name!r}>"


class ReplayStep(interface.WorkflowStep):
    """The ``step`` argument of ``run()`` (see :class:`pyflow_actors.step.WorkflowStep`)."""

    def __init__(self, execution: Execution) -> None:
        self._x = execution
        self._occurrences: dict[str, int] = {}
        self._used: set[str] = set()
        self._step_count = 0

    # -- keys ---------------------------------------------------------------

    def _allocate(self, name: str, *, counts_as_step: bool) -> str:
        validate_step_name(name, self._x.limits)
        if counts_as_step:
            self._step_count += 1
            if self._step_count > self._x.limits.max_steps:
                raise ValidationError(
                    f"too many steps: a workflow instance may run at most "
                    f"{self._x.limits.max_steps} step.do calls (sleeps and waits don't count)"
                )
        n = self._occurrences.get(name, 0)
        while True:
            n += 1
            key = name if n == 1 else f"{name}-{n}"
            if key not in self._used:
                break
        self._occurrences[name] = n
        self._used.add(key)
        return key

    # -- step.do ------------------------------------------------------------

    def do(
        self,
        name: str,
        fn: Callable[..., Any] | None = None,
        *,
        depends: Iterable[interface.Step[Any]] = (),
        concurrent: bool = False,
        config: interface.StepConfig | None = None,
    ) -> Any:
        """Define a step. Use as a decorator, then call it to run it.

        .. code-block:: python

            @step.do("fetch user", config={"retries": {"limit": 3, "delay": "5 seconds"}})
            async def fetch_user():
                return {"email": "a@example.com"}

            user = await fetch_user()
            total = await step.do("add")(lambda: 1 + 2)

        The function may be sync or async and must return a JSON-serializable
        value. ``depends`` lists steps whose results are passed as arguments
        (run concurrently when ``concurrent=True``; a dependency that already
        ran in this run is not run again).
        """
        validate_step_name(name, self._x.limits)
        parsed = StepConfig.parse(config, workflow=_workflow_name(self._x))
        deps: list[StepCallable] = []
        for dep in depends:
            if not isinstance(dep, StepCallable):
                raise ValidationError(f"depends must list steps made by step.do, got {dep!r}")
            deps.append(dep)

        def decorate(func: Callable[..., Any]) -> StepCallable:
            if not callable(func):
                raise ValidationError(f"step {name!r}: expected a function, got {func!r}")
            return StepCallable(self, name, func, tuple(deps), concurrent, parsed)

        return decorate if fn is None else decorate(fn)

    async def _run_step(self, key: str, step: StepCallable) -> Any:
        x = self._x
        record = x.journal_steps.get(key)
        if record is not None and record.state != "running":
            return x.replayed(record)
        if step._depends:
            if step._concurrent:
                args = await asyncio.gather(*(d._dependency_result() for d in step._depends))
            else:
                args = [await d._dependency_result() for d in step._depends]
        else:
            args = []
        return await x.execute_step(key, step, list(args), record)

    # -- sleeps -------------------------------------------------------------

    async def sleep(self, name: str, duration: Duration) -> None:
        """Sleep for ``duration`` (seconds, ``"2 hours"``, or a timedelta)."""
        seconds = validate_sleep_seconds(
            parse_duration(duration, what="sleep duration"), self._x.limits
        )
        warn_unit_once(_workflow_name(self._x), "step.sleep duration", duration, "seconds")
        key = self._allocate(name, counts_as_step=False)
        await self._x.sleep(key, name, lambda now: now + seconds)

    async def sleep_until(self, name: str, timestamp: _dt.datetime | float) -> None:
        """Sleep until a ``datetime`` or epoch seconds."""
        at = to_epoch_seconds(timestamp)
        key = self._allocate(name, counts_as_step=False)

        def wake(now: float) -> float:
            validate_sleep_seconds(max(0.0, at - now), self._x.limits)
            return at

        await self._x.sleep(key, name, wake)

    # -- events -------------------------------------------------------------

    async def wait_for_event(
        self, name: str, event_type: str, timeout: Duration = "24 hours"
    ) -> interface.WorkflowStepEvent:
        """Wait for an event of ``event_type``; returns ``{"type", "payload", "timestamp"}``.

        ``timeout`` is a duration string, a timedelta, or milliseconds (a
        number, as in Cloudflare's JS options this call becomes).
        Raises :class:`~pyflow_actors.errors.WaitForEventTimeout` (catchable)
        when ``timeout`` passes first. Events sent before the wait are
        buffered and delivered in order, each to one wait only.
        """
        validate_event_type(event_type, self._x.limits)
        seconds = parse_milliseconds(timeout, what="timeout")
        # Before the limit check: `timeout=60` (meant as seconds) is under the 1 s minimum.
        warn_unit_once(_workflow_name(self._x), "wait_for_event timeout", timeout, "milliseconds")
        seconds = validate_event_timeout(seconds, self._x.limits)
        key = self._allocate(name, counts_as_step=False)
        return await self._x.wait_for_event(key, name, event_type, seconds)

    # Cloudflare's JavaScript spellings, for those who port code.
    sleepUntil = sleep_until  # noqa: N815
    waitForEvent = wait_for_event  # noqa: N815


# ---------------------------------------------------------------------------
# The execution


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
        self.journal = cast(Journal, _GuardedJournal(journal, self))
        self._storage_error: StorageUnavailable | None = None
        self.hibernate_after, self.limits = hibernate_after, limits
        self.time: Clock = clock  # every wait goes through it; self.clock() reads it
        self.clock = clock.now
        self.journal_steps = journal.steps()
        self._seq = max((r.seq for r in self.journal_steps.values()), default=0)
        self._inbox: list[EventRecord] = list(journal.pending_events())
        self._waiters: list[_Waiter] = []
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

    # -- control from outside ----------------------------------------------

    def request_pause(self) -> None:
        self._pause_requested = True
        self._unpaused.clear()
        self._bump()

    def cancel_pause(self) -> None:
        self._pause_requested = False
        self._unpaused.set()
        self._bump()

    @property
    def pause_requested(self) -> bool:
        return self._pause_requested

    def cancel(self) -> None:
        """Stop the run now (terminate, restart): step attempts in flight are cancelled."""
        self._stop_kind = OutcomeKind.CANCELLED
        if self._task is not None:
            self._task.cancel()
        self._bump()

    def track(self, task: asyncio.Future[Any]) -> None:
        self._step_tasks.add(task)
        task.add_done_callback(self._step_tasks.discard)

    def deliver(self, events: list[EventRecord]) -> None:
        """Events already in the journal; hand them to waits (FIFO per type)."""
        self._inbox.extend(events)
        self._inbox.sort(key=lambda e: e.seq)
        self._match_events()
        self._bump()

    # -- the driver ---------------------------------------------------------

    async def run(self) -> Outcome:
        self._task = asyncio.ensure_future(self._main())
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
                if self._in_flight == 0 and await self._quiet():
                    outcome = self._stop_outcome()
                    if outcome is not None:
                        await self._cancel_all()
                        return outcome
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
        except PyflowError as exc:
            return Outcome(OutcomeKind.ERRORED, error=(type(exc).__name__, exc.message))
        except Exception as exc:  # noqa: BLE001 - any user error ends the run as errored
            return Outcome(OutcomeKind.ERRORED, error=describe_exception(exc))
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
        if record.state == "complete":
            value = serialization.loads(record.output)
            if record.kind == "waitForEvent" and isinstance(value, dict):
                value = _event_result(value)
            return value
        raise rebuild_error(record.error_name or "Error", record.error_message or "")

    def _new_record(self, **kwargs: Any) -> StepRecord:
        self._seq += 1
        record = StepRecord(seq=self._seq, started_at=self.clock(), **kwargs)
        self.journal.begin_step(record)
        self.journal_steps[record.key] = record
        return record

    # -- step.do ------------------------------------------------------------

    async def execute_step(
        self, key: str, step: StepCallable, args: list[Any], record: StepRecord | None
    ) -> Any:
        config = step._config
        if record is None:
            record = self._new_record(
                key=key, name=step.name, kind="step", config=serialization.dumps(config.to_json())
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
                    ctx = step_context(step.name, key, attempt.n, config.to_json())
                    value = await self._attempt(step, args, config.timeout, ctx)
                decoded, text = self._encode_output(key, value)
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

    def _end(
        self,
        record: StepRecord,
        attempt: AttemptRecord,
        error: tuple[str, str] | None,
        *,
        finish: StepState | None = None,
        output: str | None = None,
    ) -> None:
        now = self.clock()
        self.journal.end_attempt(record.key, attempt.n, now, error, finish=finish, output=output)
        attempt.ended_at = now
        if error:
            attempt.error_name, attempt.error_message = error
        if finish:
            record.state, record.ended_at, record.output = finish, now, output
            if error:
                record.error_name, record.error_message = error

    async def _attempt(
        self, step: StepCallable, dependencies: list[Any], timeout: float, ctx: Any
    ) -> Any:
        fn = step._fn
        args, kwargs = step_arguments(fn, dependencies, ctx)
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
        ):
            work: Awaitable[Any] = fn(*args, **kwargs)
        else:
            work = asyncio.to_thread(fn, *args, **kwargs)
        try:
            value = await wait_for(self.time, _resolve(work), timeout)
        except asyncio.TimeoutError:
            raise StepTimeout(
                f"step {step.name!r} attempt ran longer than its timeout of "
                f"{format_duration(timeout)}"
            ) from None
        return value

    def _encode_output(self, key: str, value: Any) -> tuple[Any, str]:
        try:
            text = encode_json(value, f"output of step {key!r}", self.limits.max_step_output_bytes)
        except PyflowError as exc:
            raise StepOutputError(exc.message) from None
        if inexact := serialization.inexact_types(value):
            instance_logs.warn_once(key, serialization.inexact_warning(key, inexact))
        return serialization.loads(text), text

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
        waiter = _Waiter(
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
        record = self.journal_steps.get(key)
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
        record = self.journal_steps.get(key)
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
        waiter = _Waiter(
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
        for waiter in list(self._waiters):
            if waiter.kind != "event" or waiter.future.done() or waiter.key is None:
                continue
            for event in self._inbox:
                if event.type != waiter.event_type:
                    continue
                self._inbox.remove(event)
                now = self.clock()
                timestamp = _dt.datetime.fromtimestamp(event.received_at, _dt.timezone.utc)
                value = {
                    "type": event.type,
                    "payload": serialization.loads(event.payload),
                    "timestamp": timestamp.isoformat(),
                }
                text = serialization.dumps(value)
                self.journal.consume_event(waiter.key, event.event_id, now, text)
                record = self.journal_steps[waiter.key]
                record.state, record.ended_at, record.output = "complete", now, text
                waiter.future.set_result(_event_result(value))
                break


class _GuardedJournal:
    """The execution's view of its journal: a write the storage refuses stops the run."""

    def __init__(self, journal: Journal, execution: Execution) -> None:
        self._journal, self._execution = journal, execution

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._journal, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except StorageUnavailable as exc:
                self._execution._storage_failed(exc)
                raise

        return guarded


def _workflow_name(execution: Execution) -> str:
    """The workflow's name, for messages (``""`` for an event without one)."""
    event = execution.event
    return str(event.get("workflowName", "")) if isinstance(event, dict | Mapping) else ""


def _event_result(value: Mapping[str, Any]) -> interface.WorkflowStepEvent:
    """The event a wait returns, from its journaled form (timestamp as ISO text)."""
    timestamp = value["timestamp"]
    if isinstance(timestamp, str):
        timestamp = _dt.datetime.fromisoformat(timestamp)
    return {"type": value["type"], "payload": value["payload"], "timestamp": timestamp}


async def _resolve(value: Any) -> Any:
    """Await until the value is no longer awaitable (lambda: coroutine works)."""
    while inspect.isawaitable(value):
        value = await value
    return value
