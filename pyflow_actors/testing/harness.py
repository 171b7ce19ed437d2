"""The in-process test harness: :class:`WorkflowHarness`.

No Ray, no processes, no files: workflows run on the real replay engine over
in-memory journals, on a :class:`~pyflow_actors.engine.clock.VirtualClock`.
Time skipping: while a test awaits the harness (``wait_for_status``,
``wait_for_step``, ``wait``) and no step code is running, the clock jumps to
the next timer (a sleep, a retry delay, a timeout), so a workflow that sleeps
for 30 days finishes in milliseconds. Outside those awaits, time moves only
with ``harness.clock.advance("3 days")``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..durations import Duration, parse_duration, to_epoch_seconds
from ..engine.clock import VirtualClock
from ..entrypoint import Env
from ..errors import HarnessWaitTimeout, InstanceAlreadyExists, InstanceNotFound, ValidationError
from ..limits import (
    DEFAULT_LIMITS,
    Limits,
    validate_instance_id,
    validate_payload,
    validate_workflow_name,
)
from ..models import CreateOptions
from .mocks import _UNSET, StepMocks
from .run import HarnessRun

T = TypeVar("T")

# Yields of the event loop with no journal write or step code running before
# the harness calls the workflow idle and may skip time.
_QUIET_YIELDS = 20


class WorkflowHarness:
    """Run workflows in-process with mocks and a virtual clock (the ``workflow_harness`` fixture).

    .. code-block:: python

        harness.mock_step("charge card", error=ConnectionError("down"), attempts=[1])
        run = await harness.start(Checkout, params={"cart": 7}, id="order-7")
        assert await run.wait_for_step("charge card") == {"charged": 7}
        status = await run.wait_for_status("complete")
    """

    def __init__(
        self,
        *,
        start: _dt.datetime | float | None = None,
        time_skipping: bool = True,
        hibernate_after: Duration | None = None,
        limits: Limits = DEFAULT_LIMITS,
        wait_timeout: float = 10.0,
        vars: Mapping[str, Any] | None = None,  # noqa: A002 - pyflow.toml's [vars]
        journals: Path | None = None,
    ) -> None:
        self.clock = VirtualClock(None if start is None else to_epoch_seconds(start))
        self.time_skipping = time_skipping
        # Never hibernate by default: every wait is kept in-process on the
        # virtual clock. A duration makes runs hibernate and replay on wake,
        # as instance actors do.
        self.hibernate_after = (
            math.inf if hibernate_after is None else parse_duration(hibernate_after)
        )
        self.limits, self.wait_timeout = limits, wait_timeout
        self.vars: dict[str, Any] = dict(vars or {})
        # None: journals in memory; a folder: DuckDB journals laid out as the engine's.
        self.journals = journals
        self.mocks = StepMocks()
        self.mocked_events: list[tuple[str, Any]] = []
        self._classes: dict[str, type] = {}
        self._bindings: dict[str, str] = {}  # binding name -> workflow name
        self._runs: dict[tuple[str, str], HarnessRun] = {}
        self._busy = 0
        self._generation = 0
        self._changed = asyncio.Event()

    # -- setting up --------------------------------------------------------------

    def register(
        self, workflow: type, *, name: str | None = None, binding: str | None = None
    ) -> str:
        """Make ``workflow`` known by ``name`` (default: the class name, lowercased)
        and, with ``binding``, reachable from other workflows as ``self.env.<binding>``."""
        name = validate_workflow_name(name or workflow.__name__.lower(), self.limits)
        known = self._classes.get(name)
        if known is not None and known is not workflow:
            raise ValidationError(f"workflow name {name!r} is already taken by {known.__name__}")
        self._classes[name] = workflow
        if binding is not None:
            self._bindings[binding] = name
        return name

    def mock_step(
        self,
        name: str,
        *,
        result: Any = _UNSET,
        error: BaseException | type[BaseException] | None = None,
        timeout: bool = False,
        attempts: Iterable[int] | None = None,
        occurrence: int | None = None,
    ) -> None:
        """Replace step ``name``: return ``result``, raise ``error``, or time out.

        ``attempts`` (1-based) limits the mock to those attempts, the others
        run the real code (``error=..., attempts=[1, 2]`` then success);
        ``occurrence`` limits it to the n-th call of a step of that name.
        The mocked step is journaled like any other.
        """
        self.mocks.add(
            name,
            result=result,
            error=error,
            timeout=timeout,
            attempts=attempts,
            occurrence=occurrence,
        )

    def mock_event(self, type: str, payload: Any = None) -> None:  # noqa: A002 - Cloudflare's word
        """Buffer an event for every instance started from now on (kept across restart)."""
        self.mocked_events.append((type, payload))

    def disable_sleeps(self, *steps: str) -> None:
        """Make these sleeps (all when none named) return at once, without moving the clock."""
        if not steps:
            self.mocks.sleeps_disabled = None
        elif self.mocks.sleeps_disabled is not None:
            self.mocks.sleeps_disabled.update(steps)

    def disable_retry_delays(self, *steps: str) -> None:
        """Retry these steps (all when none named) at once: their retry delay becomes 0."""
        if not steps:
            self.mocks.retry_delays_disabled = None
        elif self.mocks.retry_delays_disabled is not None:
            self.mocks.retry_delays_disabled.update(steps)

    # -- instances ---------------------------------------------------------------

    async def start(
        self,
        workflow: type | str,
        *,
        params: Any = None,
        id: str | None = None,  # noqa: A002 - Cloudflare's word
        env: Mapping[str, Any] | None = None,
    ) -> HarnessRun:
        """Create an instance of ``workflow`` (a class, or a registered name) and start it."""
        if isinstance(workflow, str):
            name = workflow
            cls = self._classes.get(name)
            if cls is None:
                raise ValidationError(f"no workflow registered as {name!r}: call register() first")
        else:
            cls = workflow
            name = next((n for n, c in self._classes.items() if c is cls), None) or self.register(
                cls
            )
        instance_id = validate_instance_id(id, self.limits) if id is not None else str(uuid.uuid4())
        validate_payload(params, "params", self.limits)  # refused here, as the engine's create does
        if (name, instance_id) in self._runs:
            raise InstanceAlreadyExists(
                f"instance {instance_id!r} already exists in workflow {name!r}"
            )
        bindings = {b: HarnessBinding(self, wf) for b, wf in self._bindings.items()}
        run = HarnessRun(
            self, name, cls, instance_id, params, Env({**self.vars, **bindings, **(env or {})})
        )
        self._runs[(name, instance_id)] = run
        return run

    def get(self, workflow: str, id: str) -> HarnessRun:  # noqa: A002 - Cloudflare's word
        """The run of instance ``id`` of ``workflow`` (also those started by other workflows)."""
        try:
            return self._runs[(workflow, id)]
        except KeyError:
            raise InstanceNotFound(
                f"instance {id!r} does not exist in workflow {workflow!r}"
            ) from None

    @property
    def runs(self) -> list[HarnessRun]:
        """Every instance started so far, oldest first."""
        return list(self._runs.values())

    async def aclose(self) -> None:
        """Stop every run still going (the fixture does this after each test)."""
        for run in self._runs.values():
            await run.close()

    # -- waiting and time skipping ----------------------------------------------

    async def until(
        self, ready: Callable[[], T | None], what: str, timeout: float | None = None
    ) -> T:
        """Return ``ready()`` once it is not None, skipping virtual time while idle.

        ``timeout`` is in real seconds (default ``wait_timeout``).
        """
        loop = asyncio.get_running_loop()
        limit = self.wait_timeout if timeout is None else timeout
        deadline = loop.time() + limit
        while True:
            value = ready()
            if value is not None:
                return value
            if self.time_skipping and await self._idle():
                wake = self.clock.next_deadline()
                if wake is not None and math.isfinite(wake):
                    self.clock.advance_to(wake)
                    continue
            if loop.time() > deadline:
                raise HarnessWaitTimeout(
                    f"waited {limit:g}s of real time for {what}; virtual time is "
                    f"{_dt.datetime.fromtimestamp(self.clock.now(), _dt.timezone.utc):%Y-%m-%d %H:%M:%S}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=0.01)
            except asyncio.TimeoutError:
                pass

    async def _idle(self) -> bool:
        """No step code runs and nothing was journaled for a while: the workflows wait."""
        generation = self._generation
        for _ in range(_QUIET_YIELDS):
            await asyncio.sleep(0)
            if self._busy or generation != self._generation:
                return False
        return True

    def notify(self) -> None:
        """Something changed (a journal write, a run's state): waits look again."""
        self._generation += 1
        self._changed.set()

    def count_busy(self, delta: int) -> None:
        self._busy += delta
        self.notify()


class HarnessBinding:
    """``self.env.<BINDING>`` inside a harness run: create instances in the same harness."""

    def __init__(self, harness: WorkflowHarness, workflow: str) -> None:
        self._harness, self.name = harness, workflow

    async def create(self, id: str | None = None, params: Any = None) -> HarnessRun:  # noqa: A002
        return await self._harness.start(self.name, id=id, params=params)

    async def create_batch(self, batch: Iterable[Any]) -> list[HarnessRun]:
        """Create several; ids that exist already are skipped and left out of the result."""
        created = []
        for item in batch:
            options = item if isinstance(item, CreateOptions) else CreateOptions(**dict(item))
            if options.id is not None and (self.name, options.id) in self._harness._runs:
                continue
            created.append(await self.create(options.id, options.params))
        return created

    async def get(self, id: str) -> HarnessRun:  # noqa: A002
        return self._harness.get(self.name, id)

    def __repr__(self) -> str:
        return f"<HarnessBinding {self.name}>"
