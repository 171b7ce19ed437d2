"""Alarms: when each waiting instance must wake.

Owns the alarm heap and the loop that fires it. A waiting row is armed with
its ``wake_at``; when the time comes, :class:`Alarms` calls ``on_due(row)`` if
the row is still waiting for that very time (a row that was woken earlier by
an event, paused or re-armed leaves a stale entry, skipped here). The heap is
rebuilt from the rows at start, so nothing here needs to be durable. Time is
the engine's clock (:data:`~pyflow_actors.engine.clock.SYSTEM_CLOCK`), the one
instances compute their wake times on.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
from collections.abc import Callable, Iterator

from ...engine.clock import SYSTEM_CLOCK
from ...models import InstanceStatus
from ...storage.registry import InstanceRow
from .table import InstanceTable, Key

MAX_IDLE = 1.0  # seconds between checks when nothing is due sooner
# Rows woken per turn of the loop: 1,000 due at once were queued in one registry
# commit before the first (warm) actor was called, 0.5-0.8 s late (issue 9).
WAKE_CHUNK = 64


class Alarms:
    def __init__(self, table: InstanceTable, clock: Callable[[], float] = SYSTEM_CLOCK.now) -> None:
        self.table = table
        self.clock = clock
        self._heap: list[tuple[float, Key]] = []
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, row: InstanceRow) -> None:
        if row.wake_at is None or math.isinf(row.wake_at):
            return  # waits for an event only
        heapq.heappush(self._heap, (row.wake_at, row.key))
        self._changed.set()

    def upcoming(self, n: int) -> list[InstanceRow]:
        """Up to ``n`` waiting rows with the earliest alarms, soonest first."""
        rows = []
        for at, key in heapq.nsmallest(n, self._heap):
            row = self.table.get(key)
            if row is not None and row.status == InstanceStatus.WAITING and row.wake_at == at:
                rows.append(row)
        return rows

    def waking_by(self, horizon: float) -> Iterator[InstanceRow]:
        """The waiting rows whose alarm is at or before ``horizon``, soonest first
        (read lazily: the cost is that of the rows read, not of the whole heap)."""
        for at, key in _in_order(self._heap):
            if at > horizon:
                return
            row = self.table.get(key)
            if row is not None and row.status == InstanceStatus.WAITING and row.wake_at == at:
                yield row

    def _waiting(self, row: InstanceRow, at: float | None) -> bool:
        """Still waiting for the alarm it was popped at (an event may have woken it
        while the rows before it were handed over)."""
        current = self.table.get(row.key)
        return current is row and row.status == InstanceStatus.WAITING and row.wake_at == at

    def due(self) -> list[InstanceRow]:
        """Pop the alarms that are due; the rows still waiting for them."""
        now, rows = self.clock(), []
        while self._heap and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            row = self.table.get(key)
            if row is not None and row.status == InstanceStatus.WAITING and row.wake_at == at:
                rows.append(row)
        return rows

    async def run(self, on_due: Callable[[list[InstanceRow]], None]) -> None:
        """Fire due alarms forever; sleeps until the next one (or a new arm). Many
        due at once go ``WAKE_CHUNK`` at a time, the loop let run between: the
        first ones' actors (warm) are called before the rest are queued."""
        while True:
            rows = [(row, row.wake_at) for row in self.due()]
            for first in range(0, len(rows), WAKE_CHUNK):
                chunk = [r for r, at in rows[first : first + WAKE_CHUNK] if self._waiting(r, at)]
                if chunk:
                    on_due(chunk)
                if first + WAKE_CHUNK < len(rows):
                    await asyncio.sleep(0)
            delay = min(MAX_IDLE, self._heap[0][0] - self.clock()) if self._heap else MAX_IDLE
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(delay, 0.001))


def _in_order(heap: list[tuple[float, Key]]) -> Iterator[tuple[float, Key]]:
    """A heap's entries, smallest first, without sorting it: a frontier of the
    entries whose parents were yielded (each step costs log of the frontier)."""
    frontier = [(heap[0], 0)] if heap else []
    while frontier:
        entry, index = heapq.heappop(frontier)
        yield entry
        for child in (2 * index + 1, 2 * index + 2):
            if child < len(heap):
                heapq.heappush(frontier, (heap[child], child))
