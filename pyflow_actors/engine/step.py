"""The ``step`` object handed to ``run()``: :class:`ReplayStep` and :class:`StepCallable`.

:class:`ReplayStep` is the engine's :class:`pyflow_actors.step.WorkflowStep`.
It validates what workflow code asks for and gives each call its cache key: the
step's name, then ``name-2``, ``name-3``... for later occurrences. What the
call then does (replay the journal, run an attempt, wait) is the run's work:
it asks its :class:`StepExecution` (the :class:`~.execution.Execution` it
belongs to), so this module does not import the execution.

``step.do(name)`` returns a :class:`StepCallable`; calling or awaiting it runs
the step once, with the results of the steps it ``depends`` on as arguments.
A step may carry a rollback handler (``rollback=`` or ``@the_step.rollback``):
each call registers it for this run (see :mod:`.rollback_handlers`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, Protocol

from .. import step as interface
from ..durations import (
    Duration,
    parse_duration,
    parse_milliseconds,
    to_epoch_seconds,
    warn_unit_once,
)
from ..errors import InvalidRollback, ValidationError
from ..limits import (
    Limits,
    validate_event_timeout,
    validate_event_type,
    validate_sleep_seconds,
    validate_step_name,
)
from .records import StepRecord
from .rollback_handlers import Registered, RollbackHandler, rollback_handler
from .step_config import StepConfig

PATCH_KEY_PREFIX = "patched:"  # journal keys of step.patched markers (kind "patch")


class StepExecution(Protocol):
    """What a :class:`ReplayStep` needs from the run it belongs to.

    :class:`~pyflow_actors.engine.execution.Execution` implements it: it owns
    the journal, the waits and the step attempts.
    """

    @property
    def event(self) -> Any:
        """The instance's event (``workflowName`` names the workflow in messages)."""
        ...

    @property
    def limits(self) -> Limits:
        """The limits step names, counts, sleeps and waits are checked against."""
        ...

    @property
    def journal_steps(self) -> Mapping[str, StepRecord]:
        """The journal's step records by cache key."""
        ...

    def track(self, task: asyncio.Future[Any]) -> None:
        """Own a running step (cancelled with the run)."""

    def mark_patch(self, key: str, name: str) -> None:
        """Journal that the instance takes the new path of ``step.patched(name)``."""

    def replayed(self, record: StepRecord) -> Any:
        """A finished step's recorded output (or its recorded error, raised)."""

    async def execute_step(
        self, key: str, step: StepCallable, args: list[Any], record: StepRecord | None
    ) -> Any:
        """Run the step's attempts (retries and timeouts) until it completes or fails."""

    async def sleep(self, key: str, name: str, wake: Callable[[float], float]) -> None:
        """Sleep until ``wake(now)`` (computed once, then journaled)."""

    async def wait_for_event(
        self, key: str, name: str, event_type: str, timeout: float
    ) -> interface.WorkflowStepEvent:
        """Wait up to ``timeout`` seconds for an event of ``event_type``."""


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
        rollback: RollbackHandler | None = None,
    ) -> None:
        self._step, self.name, self._fn = step, name, fn
        self._depends, self._concurrent, self._config = depends, concurrent, config
        self._rollback = rollback
        self._first: asyncio.Future[Any] | None = None
        self.__name__ = getattr(fn, "__name__", name)
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self) -> Awaitable[Any]:
        key = self._step._allocate(self.name, counts_as_step=True)
        if self._rollback is not None:
            self._step.rollbacks.append(Registered(key, self.name, self._rollback))
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

    def rollback(
        self, fn: Callable[..., Any] | None = None, *, config: interface.StepConfig | None = None
    ) -> Any:
        """Attach a rollback handler to this step (before calling the step).

        .. code-block:: python

            @step.do("charge")
            async def charge():
                return await payments.charge(order)

            @charge.rollback(config={"retries": {"limit": 3}})
            async def refund(ctx, output, error):
                await payments.refund(output["charge_id"])

            await charge()
        """

        def attach(handler: Callable[..., Any]) -> Callable[..., Any]:
            workflow = _workflow_name(self._step._x)
            self._rollback = rollback_handler(self.name, handler, config, workflow=workflow)
            return handler

        return attach if fn is None else attach(fn)

    def __repr__(self) -> str:
        return f"<step {self.name!r}>"


class ReplayStep(interface.WorkflowStep):
    """The ``step`` argument of ``run()`` (see :class:`pyflow_actors.step.WorkflowStep`)."""

    def __init__(self, execution: StepExecution) -> None:
        self._x = execution
        self._occurrences: dict[str, int] = {}
        self._used: set[str] = set()
        self._step_count = 0
        self._patches: dict[str, bool] = {}
        self.rollbacks: list[Registered] = []  # steps called with a handler, in call order

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
        rollback: Callable[..., Any] | None = None,
        rollback_config: interface.StepConfig | None = None,
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
        ran in this run is not run again). ``rollback`` undoes the step if the
        instance fails later (see :mod:`.rollback`), with its own
        ``rollback_config`` (``retries`` and ``timeout``).
        """
        validate_step_name(name, self._x.limits)
        workflow = _workflow_name(self._x)
        parsed = StepConfig.parse(config, workflow=workflow)
        if rollback is None and rollback_config is not None:
            raise InvalidRollback(f"step {name!r}: rollback_config needs a rollback handler")
        handler = (
            None
            if rollback is None
            else rollback_handler(name, rollback, rollback_config, workflow=workflow)
        )
        deps: list[StepCallable] = []
        for dep in depends:
            if not isinstance(dep, StepCallable):
                raise ValidationError(f"depends must list steps made by step.do, got {dep!r}")
            deps.append(dep)

        def decorate(func: Callable[..., Any]) -> StepCallable:
            if not callable(func):
                raise ValidationError(f"step {name!r}: expected a function, got {func!r}")
            return StepCallable(self, name, func, tuple(deps), concurrent, parsed, handler)

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

    # -- upgrades -----------------------------------------------------------

    def patched(self, name: str) -> bool:
        """True on code past the patch ``name``; False replaying a journal from before it."""
        validate_step_name(name, self._x.limits)
        key = f"{PATCH_KEY_PREFIX}{name}"
        if key not in self._patches:
            if key in self._x.journal_steps:
                self._patches[key] = True
            elif self.replaying():
                self._patches[key] = False  # the journal was written before the patch
            else:
                self._x.mark_patch(key, name)
                self._patches[key] = True
        return self._patches[key]

    def replaying(self) -> bool:
        """Whether the journal holds steps this run has not asked for yet."""
        return any(
            record.kind not in ("patch", "rollback") and key not in self._used
            for key, record in self._x.journal_steps.items()
        )

    # Cloudflare's JavaScript spellings, for those who port code.
    sleepUntil = sleep_until  # noqa: N815
    waitForEvent = wait_for_event  # noqa: N815


def _workflow_name(execution: StepExecution) -> str:
    """The workflow's name, for messages (``""`` for an event without one)."""
    event = execution.event
    return str(event.get("workflowName", "")) if isinstance(event, dict | Mapping) else ""
