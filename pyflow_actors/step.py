"""What workflow code calls: the ``step`` interface and the shapes it takes and returns.

``run(self, event, step)`` receives a :class:`WorkflowStep`. This module is
what an author's editor and type checker see: ``step.do``, ``step.sleep``,
``step.sleep_until`` and ``step.wait_for_event``, with the typed dicts of a
step's ``config`` (:class:`StepConfig`, :class:`RetryConfig`) and of the event
``wait_for_event`` returns (:class:`WorkflowStepEvent`). The replay engine
(``pyflow_actors.engine.replay.ReplayStep``) implements it; nothing here runs.

.. code-block:: python

    from pyflow_actors import StepConfig, WorkflowEntrypoint, WorkflowEvent, WorkflowStep

    RETRY_GENTLY: StepConfig = {"retries": {"limit": 3, "delay": "5 seconds", "backoff": "linear"}}

    class Onboarding(WorkflowEntrypoint):
        async def run(self, event: WorkflowEvent, step: WorkflowStep) -> dict[str, str]:
            @step.do("fetch user", config=RETRY_GENTLY)
            async def fetch_user() -> dict[str, str]:
                return {"email": event.payload["email"]}

            user = await fetch_user()                        # dict[str, str]
            await step.sleep("cool off", "1 day")
            approval = await step.wait_for_event("approval", "approved", timeout="24 hours")
            return {"email": user["email"], "by": approval["payload"]["by"]}
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Literal, Protocol, TypedDict, TypeVar, overload

from .durations import Duration

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Backoff = Literal["constant", "linear", "exponential"]


class RetryConfig(TypedDict, total=False):
    """``config["retries"]``: how a failed attempt is retried (Cloudflare's shape).

    ``limit`` is the number of retries after the first attempt (``0``: one
    attempt; ``float("inf")``: unlimited; default 5). The delay before retry
    ``n`` is ``delay`` (constant), ``delay * n`` (linear) or
    ``delay * 2 ** (n - 1)`` (exponential, the default); ``delay`` defaults to
    ``"10 seconds"``.
    """

    limit: float
    delay: Duration
    backoff: Backoff


class StepConfig(TypedDict, total=False):
    """The ``config`` of ``step.do`` (Cloudflare's ``WorkflowStepConfig``).

    ``timeout`` bounds each attempt (default ``"10 minutes"``); a timed-out
    attempt is a failed attempt.

    >>> config: StepConfig = {"retries": {"limit": 0}, "timeout": "30 seconds"}
    """

    retries: RetryConfig
    timeout: Duration


class WorkflowStepEvent(TypedDict):
    """What ``step.wait_for_event`` returns: the event that ended the wait."""

    type: str
    payload: Any
    timestamp: _dt.datetime


class Step(Protocol[T_co]):
    """A step defined by ``step.do``: call it, or await it, to run it (or replay it).

    Each run of a step gets its own cache key (``name``, then ``name-2``...),
    so calling the same step twice runs it twice; as a dependency of another
    step it runs once per run.
    """

    name: str

    def __call__(self) -> Awaitable[T_co]: ...

    def __await__(self) -> Generator[Any, None, T_co]: ...

    def rollback(
        self, fn: Callable[..., Any] | None = None, *, config: StepConfig | None = None
    ) -> Any:
        """Attach a rollback handler (``@charge.rollback`` or
        ``@charge.rollback(config=...)``); see ``WorkflowStep.do``'s ``rollback``."""
        ...


class StepDecorator(Protocol):
    """What ``step.do(name, ...)`` returns without a function: apply it to one."""

    @overload
    def __call__(self, fn: Callable[..., Awaitable[T]], /) -> Step[T]: ...

    @overload
    def __call__(self, fn: Callable[..., T], /) -> Step[T]: ...


class WorkflowStep(Protocol):
    """The ``step`` argument of ``run(event, step)``: durable steps, sleeps and waits.

    Every method takes a ``name``: a step's results are journaled under it and
    replayed when the instance resumes, so names must be stable across runs.
    """

    @overload
    def do(
        self,
        name: str,
        fn: None = None,
        *,
        depends: Iterable[Step[Any]] = (),
        concurrent: bool = False,
        config: StepConfig | None = None,
        rollback: Callable[..., Any] | None = None,
        rollback_config: StepConfig | None = None,
    ) -> StepDecorator: ...

    @overload
    def do(
        self,
        name: str,
        fn: Callable[..., Awaitable[T]],
        *,
        depends: Iterable[Step[Any]] = (),
        concurrent: bool = False,
        config: StepConfig | None = None,
        rollback: Callable[..., Any] | None = None,
        rollback_config: StepConfig | None = None,
    ) -> Step[T]: ...

    @overload
    def do(
        self,
        name: str,
        fn: Callable[..., T],
        *,
        depends: Iterable[Step[Any]] = (),
        concurrent: bool = False,
        config: StepConfig | None = None,
        rollback: Callable[..., Any] | None = None,
        rollback_config: StepConfig | None = None,
    ) -> Step[T]: ...

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
    ) -> StepDecorator | Step[Any]:
        """Define a step named ``name``; use it as a decorator, then call the step.

        .. code-block:: python

            @step.do("charge card", config={"retries": {"limit": 3, "delay": "5 seconds"}})
            async def charge() -> str:
                return await payments.charge(order_id)

            receipt = await charge()
            total = await step.do("add")(lambda: 1 + 2)

        The function may be sync or async and must return a JSON-serializable
        value (pydantic models are dumped); that value is journaled before
        ``run()`` sees it, and a completed step is never run again. ``depends``
        lists steps whose results are passed to the function as arguments, in
        order; ``concurrent=True`` runs them at the same time. Raise
        :class:`~pyflow_actors.NonRetryableError` to fail at once without retries.

        ``rollback`` (a saga's compensation) runs if the instance fails later, or
        is terminated with ``rollback=True``: handlers of finished steps run
        last-started first, each journaled and retried as a step with its own
        ``rollback_config`` (``retries`` and ``timeout`` only). A handler takes,
        by name, ``ctx`` (the step's context), ``output`` (its result, ``None``
        if it failed) and ``error`` (why the instance failed):

        .. code-block:: python

            async def refund(output, error):
                await payments.refund(output["charge_id"])

            receipt = await step.do("charge", charge, rollback=refund,
                                    rollback_config={"retries": {"limit": 3}})
        """
        ...

    async def sleep(self, name: str, duration: Duration) -> None:
        """Sleep for ``duration``: seconds, ``"2 hours"``, ``"1 day"`` or a ``timedelta``.

        A sleep longer than the engine's ``hibernate_after`` ends the
        instance's process; the instance wakes on time, on any node.

        >>> await step.sleep("cool off", "1 day")
        """
        ...

    async def sleep_until(self, name: str, timestamp: _dt.datetime | float) -> None:
        """Sleep until ``timestamp``: a ``datetime`` or epoch seconds.

        >>> await step.sleep_until("on launch day", datetime(2030, 1, 1, tzinfo=timezone.utc))
        """
        ...

    async def wait_for_event(
        self, name: str, event_type: str, timeout: Duration = "24 hours"
    ) -> WorkflowStepEvent:
        """Wait for an event of ``event_type`` sent to this instance; return it.

        Events sent before the wait are buffered and delivered in order, each
        to one wait only. When ``timeout`` passes first,
        :class:`~pyflow_actors.WaitForEventTimeout` is raised (catch it to go on).

        >>> approval = await step.wait_for_event("approval", "approved", timeout="1 hour")
        >>> approval["payload"]
        """
        ...

    def patched(self, name: str) -> bool:
        """Whether this run takes the new code path of the change called ``name``.

        True when the instance reaches this point on code that has the patch (a
        new instance, or an old one past the end of its journal); False when
        replaying a journal written before the patch. The answer is journaled,
        so it never changes for an instance (Temporal's ``workflow.patched``).

        >>> if step.patched("send-sms"):
        ...     await step.do("sms")(send_sms)
        """
        ...


__all__ = [
    "Backoff",
    "RetryConfig",
    "Step",
    "StepConfig",
    "StepDecorator",
    "WorkflowStep",
    "WorkflowStepEvent",
]
