"""Start order: an instance resumed from a wait runs before newer ones admitted after it.

The scheduler admits resuming instances (an event arrived, an alarm fired)
before new ones, but an admitted instance's step waits for its actor: one
that hibernated starts cold (a new worker process, ~0.4 CPU-s, seconds on a
loaded machine), while a new instance admitted a moment later often finds its
actor warm (``warm.py`` warms the head of the line) and runs its first step at
once, before the resumed one's. The concurrency harness saw 1-2 such pairs in
2 of 4 bench-quick runs (a resumed waiter's cold start took 4 s there under
load; the warm pool starts at most a core's worth of actors at a time).

So :class:`StartOrder` hands each admitted instance its actor in admission
order where it matters: a resumed instance is *up* once its actor has
answered ``prepare`` (process up, workflow class loaded, journal open: asked
beside its run, which is not delayed) and the events it was resumed for are
delivered (journaled in it; then its run goes on at once); a new instance admitted after a resumed one that is not up
yet gets its actor (warm or made) only then. New instances among themselves,
and resumed ones among themselves, are not held: throughput with no resumed
instance in line is unchanged. ``HOLD_LIMIT`` bounds a hold, should an actor
never answer (its death ends the hold at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

from ...storage.registry import InstanceRow
from ..protocol import InstanceSetup
from .actors import InstanceActors, Live
from .inbox import Inbox
from .scheduler import RESUMING
from .table import Key
from .wrapper import InstanceActorHandle

HOLD_LIMIT = 30.0  # seconds a new instance's start waits at most for a resumed one
RECHECK = 0.5  # seconds between looks at whether a resumed one's activation ended


@dataclass
class Starting:
    """A resumed instance not up yet: its activation (``live``) and when it is up."""

    live: Live
    up: asyncio.Future[None]


class StartOrder:
    """Starts admitted instances' actors (through ``actors``), resumed ones first."""

    def __init__(self, actors: InstanceActors, inbox: Inbox) -> None:
        self.actors, self.inbox = actors, inbox
        self._starting: dict[Key, Starting] = {}  # resumed instances not up yet
        self.held = 0  # new instances' starts held behind a resumed one (a figure)
        inbox.on_delivered = self._delivered

    def start(
        self,
        row: InstanceRow,
        setup: InstanceSetup,
        warm: asyncio.Future[InstanceActorHandle] | None,
    ) -> None:
        """Give the admitted instance its actor (``warm`` if started ahead) and run it."""
        if row.priority != RESUMING:
            self._start_new(row, setup, warm)
            return
        if (earlier := self._starting.pop(row.key, None)) is not None:
            _set(earlier.up)  # an earlier activation of it (it died starting)
        up = asyncio.get_running_loop().create_future()
        resumed = Deferred(lambda: self._resumed(row.key, up, setup, warm))
        live = self.actors.start(row, setup, resumed)
        self._starting[row.key] = Starting(live, up)

    def _start_new(
        self,
        row: InstanceRow,
        setup: InstanceSetup,
        warm: asyncio.Future[InstanceActorHandle] | None,
    ) -> None:
        ahead = self._ahead()
        if not ahead:
            self.actors.start(row, setup, warm)
            return
        self.held += 1
        held = Deferred(lambda: self._after(ahead, setup, warm))
        live = self.actors.start(row, setup, held)
        if warm is not None:  # held, its warm actor is its handle all the same
            warm.add_done_callback(lambda made: _expose(live, made))

    def _ahead(self) -> list[asyncio.Future[None]]:
        """When each resumed instance still starting is up; those whose activation
        ended meanwhile (stopped, or died) are starting no more."""
        for key, starting in list(self._starting.items()):
            if starting.up.done() or self.actors.live.get(key) is not starting.live:
                self._up(key)
        return [starting.up for starting in self._starting.values()]

    async def _resumed(
        self,
        key: Key,
        up: asyncio.Future[None],
        setup: InstanceSetup,
        warm: Awaitable[InstanceActorHandle] | None,
    ) -> InstanceActorHandle:
        """The resumed instance's actor, handed over at once (its run is not delayed).
        A warm one is prepared already; a new one is asked to say when it is (beside
        its run, which opens the journal the same once). Its events, if any, are
        pushed as soon as this returns; it is up when they are delivered."""
        try:
            handle = await (warm if warm is not None else self.actors.backend.create(setup))
        except BaseException:
            _set(up)
            raise
        if warm is None:
            asyncio.ensure_future(self._until_prepared(key, up, handle))
        elif not self.inbox.has_any(key):
            _set(up)
        return handle

    async def _until_prepared(
        self, key: Key, up: asyncio.Future[None], handle: InstanceActorHandle
    ) -> None:
        try:
            await handle.prepare()
        except Exception:  # noqa: BLE001 - it died starting: its monitor handles that
            _set(up)
        if not self.inbox.has_any(key):
            _set(up)

    async def _after(
        self,
        ahead: list[asyncio.Future[None]],
        setup: InstanceSetup,
        warm: Awaitable[InstanceActorHandle] | None,
    ) -> InstanceActorHandle:
        deadline = time.monotonic() + HOLD_LIMIT
        try:
            while ahead and time.monotonic() < deadline:
                await asyncio.wait(ahead, timeout=min(RECHECK, deadline - time.monotonic()))
                ahead = [up for up in ahead if up in self._ahead()]
        except BaseException:  # stopped while held: its warm actor goes too
            if isinstance(warm, asyncio.Future):
                warm.add_done_callback(_kill_when_made)
            raise
        return await (warm if warm is not None else self.actors.backend.create(setup))

    def _delivered(self, key: Key) -> None:
        """The inbox finished a push to the instance: it is up if its actor took the
        events, or had its chance (refused them: its run ended, or it died). A push
        made while its actor was still starting had none to give them to."""
        if key in self._starting and (
            self.actors.handle(key) is not None or not self.inbox.has_any(key)
        ):
            self._up(key)

    def _up(self, key: Key) -> None:
        starting = self._starting.pop(key, None)
        if starting is not None:
            _set(starting.up)


class Deferred:
    """An awaitable whose coroutine is made when it is awaited: the activation's
    monitor may be cancelled before it awaits it (a coroutine made and never
    awaited warns), and cancelling the monitor cancels what it awaits."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, InstanceActorHandle]]) -> None:
        self.make = make

    def __await__(self) -> Generator[Any, None, InstanceActorHandle]:
        return self.make().__await__()


def _expose(live: Live, made: asyncio.Future[InstanceActorHandle]) -> None:
    """Make a held instance's warm actor its handle while it waits for its run:
    describe and control commands go to it, as to any actor just made (it holds
    the journal open: a read of the file beside it waits for the lock, then fails)."""
    if live.handle is None and not made.cancelled() and made.exception() is None:
        live.handle = made.result()


def _kill_when_made(made: asyncio.Future[InstanceActorHandle]) -> None:
    if not made.cancelled() and made.exception() is None:
        made.result().kill()


def _set(up: asyncio.Future[None]) -> None:
    if not up.done():
        up.set_result(None)
