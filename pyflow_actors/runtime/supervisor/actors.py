"""Live instance actors: which instance has a process now, and its lifecycle.

Owns the map of live actors (one per running instance, never two) and the
monitor task of each: create the actor, run it, and when the run ends or the
process dies, report how it ended (``on_end``). All calls go through the
:class:`ActorBackend` and its handles (``wrapper.py``), never Ray directly.

Concurrent ``describe`` calls on one instance share one call to its actor
(single flight), so a burst of readers cannot fill the actor's concurrency
slots while it is starting (the same deadlock a flood of events once caused).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ...engine.waits import WaitSummary
from ...errors import InstanceActorGone, JournalLocked, StorageFormatTooNew, StorageUnavailable
from ...models import StepInfo
from ...storage.registry import InstanceRow
from ..protocol import InstanceOutcome, InstanceSetup, OutcomeKind, RunRequest
from .table import Key
from .wrapper import ActorBackend, InstanceActorHandle

STOP_GRACE = 2.0  # seconds for a stopped actor's run to report after terminate/cancel


@dataclass
class Live:
    """One instance that has (or is getting) an actor."""

    generation: int
    handle: InstanceActorHandle | None = None  # None while the actor is being created
    monitor: asyncio.Task[InstanceOutcome | None] | None = None
    pause_requested: bool = False
    waiting: WaitSummary | None = None  # what its run waits for in the process, if it does
    wait_report: int = 0  # the last report taken (reports may arrive out of order)
    rolling_back: bool = False  # its run runs rollback handlers (it said so, or was told to)


def run_request(row: InstanceRow) -> RunRequest:
    """What an actor of the row's instance is asked to run."""
    return RunRequest(
        row.generation,
        row.params,
        row.created_at,
        row.restart_from,
        row.schedule,
        rollback=bool(row.rollback_requested),
    )


OnEnd = Callable[[Key, InstanceOutcome | None], None]
OnReady = Callable[[Key, Live], None]


class InstanceActors:
    def __init__(self, backend: ActorBackend, on_ready: OnReady, on_end: OnEnd) -> None:
        self.backend = backend
        self.live: dict[Key, Live] = {}
        self._on_ready, self._on_end = on_ready, on_end
        self._describing: dict[Key, asyncio.Future[list[StepInfo]]] = {}
        self.activations = 0  # actors started (or taken warm) for a run
        self.activation_times: deque[float] = deque(maxlen=1000)  # start -> actor up, s

    def __contains__(self, key: object) -> bool:
        return key in self.live

    def __len__(self) -> int:
        return len(self.live)

    def running_by_workflow(self) -> Counter[str]:
        return Counter(workflow for workflow, _ in self.live)

    def handle(self, key: Key) -> InstanceActorHandle | None:
        live = self.live.get(key)
        return None if live is None else live.handle

    def start(
        self,
        row: InstanceRow,
        setup: InstanceSetup,
        warm: Awaitable[InstanceActorHandle] | None = None,
    ) -> Live:
        """Give the instance an actor (its ``warm`` one if started ahead) and run it."""
        live = self.live[row.key] = Live(row.generation)
        request = run_request(row)
        # Made when the monitor runs: a coroutine made here and never awaited (the
        # loop closing first) warned "coroutine ... was never awaited".
        creating = functools.partial(self._create, row.key, live, setup, warm)
        live.monitor = asyncio.ensure_future(self._monitor(row.key, live, creating, request))
        return live

    def adopt(self, row: InstanceRow, handle: InstanceActorHandle) -> Live:
        """Take over an actor that outlived a supervisor restart (its run is idempotent)."""
        live = self.live[row.key] = Live(row.generation, handle)
        request = run_request(row)
        live.monitor = asyncio.ensure_future(self._monitor(row.key, live, None, request))
        return live

    async def _create(
        self,
        key: Key,
        live: Live,
        setup: InstanceSetup,
        warm: Awaitable[InstanceActorHandle] | None,
    ) -> None:
        began = time.monotonic()
        live.handle = await (warm if warm is not None else self.backend.create(setup))
        self.activations += 1
        self.activation_times.append(time.monotonic() - began)
        if live.pause_requested:
            with contextlib.suppress(InstanceActorGone):
                await live.handle.pause()
        if live.rolling_back:  # terminated with rollback while its actor was being made
            with contextlib.suppress(InstanceActorGone):
                await live.handle.terminate(rollback=True)
        self._on_ready(key, live)

    async def _monitor(
        self,
        key: Key,
        live: Live,
        creating: Callable[[], Awaitable[None]] | None,
        request: RunRequest,
    ) -> InstanceOutcome | None:
        outcome: InstanceOutcome | None
        try:
            if creating is not None:
                await creating()
            assert live.handle is not None
            outcome = await live.handle.run(request)
        except (InstanceActorGone, JournalLocked):
            outcome = None  # the process died, or another still holds the file: rehydrate
        except (StorageUnavailable, StorageFormatTooNew):
            # Not the instance's fault: held and tried again later, never errored.
            outcome = InstanceOutcome(OutcomeKind.STORAGE)
        except Exception as exc:  # noqa: BLE001 - the engine failed on this instance
            outcome = InstanceOutcome(OutcomeKind.ERRORED, error=(type(exc).__name__, str(exc)))
        if self.live.get(key) is not live:
            return outcome  # stopped by a control command, which handles the row
        del self.live[key]
        if live.handle is not None:
            live.handle.kill()
        self._on_end(key, outcome)
        return outcome

    async def stop(self, key: Key, how: str) -> InstanceOutcome | None:
        """Stop a live actor (``terminate`` or ``cancel``) and let it go.

        Returns how its run ended if it reported in time (it may have finished
        on its own just before the command reached it), else ``None``.
        """
        live = self.live.pop(key)
        outcome: InstanceOutcome | None = None
        try:
            if live.handle is None:
                raise InstanceActorGone("not created yet")
            await (live.handle.terminate() if how == "terminate" else live.handle.cancel())
            if live.monitor is not None:
                outcome = await asyncio.wait_for(asyncio.shield(live.monitor), STOP_GRACE)
        except Exception:  # noqa: BLE001 - dead or stuck: killed below
            pass
        if live.monitor is not None:
            live.monitor.cancel()
        if live.handle is not None:
            live.handle.kill()
        return outcome

    async def describe(self, key: Key, handle: InstanceActorHandle | None) -> list[StepInfo] | None:
        """The steps from the instance's actor ``handle`` (live or warm; one call in
        flight per instance); None if it has none, or it just went away."""
        if handle is None:
            return None
        pending = self._describing.get(key)
        if pending is None:
            pending = self._describing[key] = asyncio.ensure_future(handle.describe())
            pending.add_done_callback(lambda _: self._describing.pop(key, None))
        try:
            return await asyncio.shield(pending)
        except Exception:  # noqa: BLE001 - it just went away: the caller reads the file
            return None

    async def pid(self, key: Key) -> int | None:
        """The process running the instance; None when it has none, or lost it while
        asked (a shared host let it go at the end of its run: it is hibernating)."""
        handle = self.handle(key)
        if handle is None:
            return None
        try:
            return await handle.pid()
        except InstanceActorGone:
            return None

    def let_go_all(self) -> None:
        """Kill every live actor (their journals keep everything)."""
        for live in self.live.values():
            if live.handle is not None:
                live.handle.kill()
        self.live.clear()
