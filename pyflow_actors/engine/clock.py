"""Where the replay engine reads time and waits: the :class:`Clock` it is given.

Every time the engine reads (step and attempt timestamps, sleep deadlines,
retry due times) and every wait (sleeps, retry delays, step timeouts,
``wait_for_event`` timeouts) goes through one clock per
:class:`~pyflow_actors.engine.execution.Execution`. Production runs on
:data:`SYSTEM_CLOCK`; tests inject a :class:`VirtualClock` whose time moves only
when told to, so a 30-day sleep takes no real time at all.

A test-only knob shifts the engine's wall clock, never the machine's: when
``PYFLOW_TEST_CLOCK_OFFSET_FILE`` names a file, :data:`SYSTEM_CLOCK` adds the
number of seconds written in it (re-read at most every 0.2 s) to ``time.time()``.
The replay engine and the supervisor's alarms both read this clock, so the
chaos soak can move time under pending alarms. Never set it in production.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import os
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from ..durations import Duration, parse_duration

T = TypeVar("T")


class Clock(Protocol):
    """What the engine needs of time: read it, and wait for some of it to pass."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


CLOCK_OFFSET_ENV = "PYFLOW_TEST_CLOCK_OFFSET_FILE"
OFFSET_REFRESH = 0.2  # seconds between reads of the offset file


class SystemClock:
    """Wall-clock time and real waits (the default), plus the test-only offset.

    ``offset_file`` (default: ``$PYFLOW_TEST_CLOCK_OFFSET_FILE``) holds a number
    of seconds added to ``time.time()``; missing or unreadable, the last offset
    read stays (0 at first).
    """

    def __init__(self, offset_file: str | None = None) -> None:
        self.offset_file = offset_file or os.environ.get(CLOCK_OFFSET_ENV) or None
        self._offset, self._read_at = 0.0, -math.inf

    def now(self) -> float:
        return time.time() + self.offset()

    def offset(self) -> float:
        """The seconds this clock is ahead of the machine's (0 without the knob)."""
        if self.offset_file is None:
            return 0.0
        if time.monotonic() - self._read_at >= OFFSET_REFRESH:
            self._read_at = time.monotonic()
            try:
                with open(self.offset_file) as text:
                    value = float(text.read().strip() or 0)
            except (OSError, ValueError):
                return self._offset  # mid-write or gone: keep the last one
            if math.isfinite(value):
                self._offset = value
        return self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class VirtualClock:
    """A clock whose time passes only through :meth:`advance` (or :meth:`advance_to`).

    Sleepers wake in deadline order as time passes over their deadline; a
    sleep of zero or less only yields to the event loop.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    def next_deadline(self) -> float | None:
        """When the earliest sleeper wakes (None: nobody sleeps)."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, duration: Duration) -> None:
        """Move time forward (seconds, ``"3 days"``, a timedelta) and wake every sleeper now due."""
        self.advance_to(self._now + parse_duration(duration, what="clock advance"))

    def advance_to(self, when: float) -> None:
        """Move time forward to epoch ``when`` (never backwards) and wake the due sleepers."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def wait_for(clock: Clock, awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` measured on ``clock``: raises ``asyncio.TimeoutError``.

    The awaitable is cancelled when the clock's ``timeout`` passes first.
    """
    if isinstance(clock, SystemClock):
        return await asyncio.wait_for(awaitable, timeout=timeout)
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(max(timeout, 0.0)))
    try:
        await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        timer.cancel()
    if work.done():
        return work.result()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    raise asyncio.TimeoutError
