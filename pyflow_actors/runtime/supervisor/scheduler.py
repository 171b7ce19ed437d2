"""The scheduler: the ready queue and who gets a running slot next.

Owns the ready heap. Only running instances count toward concurrency (the
engine-wide ``max_running`` and each workflow's own cap). Resuming instances
(alarm fired, event arrived, recovery: priority 0) go before new ones
(priority 1); among equals, the oldest first. Entries are checked against the
row when popped, so a row that moved on (paused, terminated, re-queued) leaves
only a stale entry behind, skipped here.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Container

from ...models import InstanceStatus
from ...storage.registry import InstanceRow
from .table import InstanceTable, Key

RESUMING, NEW = 0, 1  # priorities


class Scheduler:
    def __init__(self, table: InstanceTable) -> None:
        self.table = table
        self._ready: list[tuple[int, int, Key]] = []

    def push(self, row: InstanceRow) -> None:
        """Put a queued row in line (at its priority and sequence)."""
        heapq.heappush(self._ready, (row.priority, row.queue_seq, row.key))

    def __len__(self) -> int:
        return len(self._ready)

    def admit(
        self,
        free_slots: int,
        running: Counter[str],
        cap_of: Callable[[str], int | None],
        live: Container[Key] = (),
    ) -> list[InstanceRow]:
        """Take the rows to start now: up to ``free_slots``, within each workflow's cap.

        ``running`` counts running instances per workflow; ``cap_of`` gives a
        workflow's cap (``None``: none; a workflow that no longer exists gives 0).
        """
        running = Counter(running)
        admitted: list[InstanceRow] = []
        deferred: list[tuple[int, int, Key]] = []
        while self._ready and len(admitted) < free_slots:
            entry = heapq.heappop(self._ready)
            row = self._current(entry)
            if row is None or row.key in live:
                continue
            cap = cap_of(row.workflow)
            if cap is not None and running[row.workflow] >= cap:
                if cap > 0:
                    deferred.append(entry)
                continue
            running[row.workflow] += 1
            admitted.append(row)
        for entry in deferred:
            heapq.heappush(self._ready, entry)
        return admitted

    def peek(self, n: int) -> list[InstanceRow]:
        """The next ``n`` rows in line (not taken out of it)."""
        rows: list[InstanceRow] = []
        for entry in heapq.nsmallest(4 * n, self._ready):
            row = self._current(entry)
            if row is not None:
                rows.append(row)
                if len(rows) == n:
                    break
        return rows

    def holds(self, key: Key) -> bool:
        """The instance is queued (waiting in line for a slot)."""
        row = self.table.get(key)
        return row is not None and row.status == InstanceStatus.QUEUED

    def _current(self, entry: tuple[int, int, Key]) -> InstanceRow | None:
        priority, seq, key = entry
        row = self.table.get(key)
        if (
            row is None
            or row.status != InstanceStatus.QUEUED
            or (row.priority, row.queue_seq) != (priority, seq)
        ):
            return None  # stale: the row moved on since it was queued
        return row
