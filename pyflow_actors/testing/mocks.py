"""What a test replaces in a workflow: step results and errors, sleeps, retry delays.

The replay engine runs unchanged; the harness hands ``run()`` a
:class:`MockingStep` (a :class:`~pyflow_actors.engine.replay.WorkflowStep`)
that wraps every step function before the engine sees it. The wrapper asks
:class:`StepMocks` what this attempt of this step should do: run the real
code, return a mocked result, raise a mocked error, or hang until the step's
timeout fires on the harness clock. A mocked step is still journaled like any
other (attempts, output), as Cloudflare's ``mockStepResult`` does.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as _dt
import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..durations import Duration
from ..engine.records import AttemptRecord, EventRecord, Journal, StepRecord, StepState
from ..engine.replay import ReplayStep
from ..step import Step, StepConfig

_UNSET: Any = object()

# The (step key, attempt number) an engine task is running: set by the journal
# when the attempt begins, read by the step wrapper in the task that runs the
# attempt (asyncio copies the context into it). Exact even for concurrent steps.
_current_attempt: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar(
    "pyflow_current_attempt"
)


@dataclass(frozen=True)
class StepMock:
    """One replacement: for step ``name`` (all occurrences, or the 1-based
    ``occurrence``) and ``attempts`` (all when None), return ``result``, raise
    ``error`` or time out."""

    name: str
    result: Any = _UNSET
    error: BaseException | type[BaseException] | None = None
    timeout: bool = False
    attempts: frozenset[int] | None = None
    occurrence: int | None = None

    def applies(self, name: str, occurrence: int, attempt: int) -> bool:
        return (
            self.name == name
            and (self.occurrence is None or self.occurrence == occurrence)
            and (self.attempts is None or attempt in self.attempts)
        )


class StepMocks:
    """The mocks of a harness, and the steps whose sleeps or retry delays are off."""

    def __init__(self) -> None:
        self.mocks: list[StepMock] = []
        self.sleeps_disabled: set[str] | None = set()  # None: every sleep
        self.retry_delays_disabled: set[str] | None = set()  # None: every step

    def add(
        self,
        name: str,
        *,
        result: Any = _UNSET,
        error: BaseException | type[BaseException] | None = None,
        timeout: bool = False,
        attempts: Iterable[int] | None = None,
        occurrence: int | None = None,
    ) -> StepMock:
        chosen = sum((result is not _UNSET, error is not None, timeout))
        if chosen != 1:
            raise ValueError(f"mock_step({name!r}): give exactly one of result=, error=, timeout=")
        mock = StepMock(
            name,
            result,
            error,
            timeout,
            frozenset(attempts) if attempts is not None else None,
            occurrence,
        )
        self.mocks.append(mock)
        return mock

    def find(self, name: str, occurrence: int, attempt: int) -> StepMock | None:
        """The most specific mock for this attempt: one that lists the attempt wins."""
        found = [m for m in self.mocks if m.applies(name, occurrence, attempt)]
        found.sort(key=lambda m: (m.attempts is None, m.occurrence is None))
        return found[0] if found else None

    def sleeps_off(self, name: str) -> bool:
        return self.sleeps_disabled is None or name in self.sleeps_disabled

    def retry_delays_off(self, name: str) -> bool:
        return self.retry_delays_disabled is None or name in self.retry_delays_disabled


class HarnessJournal:
    """A run's journal (in memory, or a DuckDB file) that tells the harness about every write."""

    def __init__(self, backing: Journal, on_write: Callable[[], None]) -> None:
        self.backing, self._on_write = backing, on_write

    def steps(self) -> dict[str, StepRecord]:
        return self.backing.steps()

    def pending_events(self) -> list[EventRecord]:
        return self.backing.pending_events()

    def occurrence(self, key: str) -> tuple[str, int]:
        """The step's name, and which call of a step of that name it is (1-based)."""
        steps = self.steps()
        name = steps[key].name
        keys = [r.key for r in sorted(steps.values(), key=lambda r: r.seq) if r.name == name]
        return name, keys.index(key) + 1

    def begin_step(self, record: StepRecord) -> None:
        self.backing.begin_step(record)
        self._on_write()

    def begin_attempt(self, key: str, attempt: AttemptRecord) -> None:
        self.backing.begin_attempt(key, attempt)
        _current_attempt.set((key, attempt.n))
        self._on_write()

    def mark_interrupted(self, key: str, n: int, at: float) -> None:
        self.backing.mark_interrupted(key, n, at)
        self._on_write()

    def end_attempt(
        self,
        key: str,
        n: int,
        ended_at: float,
        error: tuple[str, str] | None,
        *,
        finish: StepState | None = None,
        output: str | None = None,
    ) -> None:
        self.backing.end_attempt(key, n, ended_at, error, finish=finish, output=output)
        self._on_write()

    def finish_step(
        self,
        key: str,
        state: StepState,
        ended_at: float,
        *,
        output: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        self.backing.finish_step(key, state, ended_at, output=output, error=error)
        self._on_write()

    def consume_event(self, key: str, event_id: str, ended_at: float, output: str) -> None:
        self.backing.consume_event(key, event_id, ended_at, output)
        self._on_write()

    def add_events(self, events: list[EventRecord]) -> list[EventRecord]:
        new = self.backing.add_events(events)
        self._on_write()
        return new


class StepRunner:
    """Runs one attempt of a wrapped step function: mocked, or the real code."""

    def __init__(
        self, mocks: StepMocks, journal: HarnessJournal, busy: Callable[[int], None]
    ) -> None:
        self.mocks, self.journal, self._busy = mocks, journal, busy

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def attempt(*args: Any) -> Any:
            key, n = _current_attempt.get()
            name, occurrence = self.journal.occurrence(key)
            mock = self.mocks.find(name, occurrence, n)
            if mock is None:
                return await self._real(fn, args)
            if mock.timeout:
                # Hang until the step's timeout (on the harness clock) cancels us.
                await asyncio.get_running_loop().create_future()
            if mock.error is not None:
                raise mock.error
            return mock.result

        return attempt

    async def _real(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        # Virtual time does not pass while workflow code runs: the harness
        # skips time only when no step code is busy.
        self._busy(+1)
        try:
            if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
                getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
            ):
                value = await fn(*args)
            else:
                value = await asyncio.to_thread(fn, *args)
            while inspect.isawaitable(value):  # lambda: coroutine
                value = await value
            return value
        finally:
            self._busy(-1)


class MockingStep(ReplayStep):
    """The ``step`` a harness run hands to ``run()``: the engine's, with mocks applied."""

    def __init__(self, execution: Any, runner: StepRunner) -> None:
        super().__init__(execution)
        self._runner = runner

    def do(
        self,
        name: str,
        fn: Callable[..., Any] | None = None,
        *,
        depends: Iterable[Step[Any]] = (),
        concurrent: bool = False,
        config: StepConfig | None = None,
        rollback: Callable[..., Any] | None = None,
        rollback_config: StepConfig | None = None,
    ) -> Any:
        if self._runner.mocks.retry_delays_off(name):
            given: StepConfig = config or {}
            config = {**given, "retries": {**given.get("retries", {}), "delay": 0}}
        decorate = super().do(
            name,
            depends=depends,
            concurrent=concurrent,
            config=config,
            rollback=rollback,  # handlers run as written (mocks are for steps)
            rollback_config=rollback_config,
        )

        def wrapped(func: Callable[..., Any]) -> Any:
            return decorate(self._runner.wrap(func) if callable(func) else func)

        return wrapped if fn is None else wrapped(fn)

    async def sleep(self, name: str, duration: Duration) -> None:
        await super().sleep(name, 0 if self._runner.mocks.sleeps_off(name) else duration)

    async def sleep_until(self, name: str, timestamp: _dt.datetime | float | int) -> None:
        if self._runner.mocks.sleeps_off(name):
            await super().sleep(name, 0)
        else:
            await super().sleep_until(name, timestamp)

    sleepUntil = sleep_until  # noqa: N815
