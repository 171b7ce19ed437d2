"""The supervisor's side of analytics, in one object: background ingest off the
event loop, queries in a thread, and the stats ``/metrics`` shows.

.. code-block:: python

    analytics = AnalyticsService(config.storage, retention=config.analytics_retention)
    # once, as a task of the supervisor's event loop:
    asyncio.create_task(analytics.run(lambda: [r for r in rows.values() if r.key not in live]))
    # when an instance becomes final or hibernates (ingest soon, not in 30 s):
    analytics.poke()
    # the supervisor's analytics_query(query):
    return await analytics.query(query)

The rows are copied on the event loop before the thread reads them, so the
supervisor may go on changing its rows meanwhile.

Ingest stays off the hot path by doing only what changed: a row whose
registry fields and journal file (size and modification time) are as they
were at its last ingest is skipped (a queued or hibernated instance is read
once, not on every pass), and a poke is answered after ``settle`` seconds, so
a burst of runs ending is one pass. An instance that finished moments ago is
read once the supervisor has folded it into the history store (``FOLD_WAIT``):
many at once from there cost ~10 ms of CPU each against ~39 ms for opening
each journal (issue 17's profile), and the pass after comes ``POKE_SETTLE``
seconds later rather than ``every``. Throughput of 16 x 3-step instances at
K=8 fell from 2.2 to 1.1 per second when every run end re-read every waiting
and queued instance: that pass took about half the supervisor's CPU.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..models import FINAL_STATUSES
from ..storage.journal import journal_path
from .query import AnalyticsQuery, AnalyticsResult
from .stats import StepSummary
from .store import DEFAULT_RETENTION, AnalyticsStore, IngestReport, InstanceLike

log = logging.getLogger("pyflow.analytics")

INGEST_EVERY = 30.0
POKE_SETTLE = 2.0  # seconds a poke waits, so that runs ending together are one pass
FOLD_WAIT = 20.0  # seconds a finished instance's journal is left for the history fold

_FINAL = frozenset(status.value for status in FINAL_STATUSES)
RowKey = tuple[str, str, int]
Stamp = tuple["RowSnapshot", int, int]  # the row, its journal's size and mtime (ns)


@dataclass(frozen=True)
class RowSnapshot:
    """An immutable copy of the registry fields ingest reads."""

    workflow: str
    id: str
    status: str
    generation: int
    created_at: float
    started_at: float | None
    ended_at: float | None

    @classmethod
    def of(cls, row: InstanceLike) -> RowSnapshot:
        return cls(
            row.workflow, str(row.id), str(row.status), row.generation, row.created_at,
            row.started_at, row.ended_at,
        )  # fmt: skip


def _as_derived(row: RowSnapshot) -> RowSnapshot:
    """The row as its events see it: only a final status adds an event (with its
    end), so a queued, waiting or paused row whose journal is unchanged is
    unchanged. 1,000 alarms due at once turned 1,000 rows from waiting to queued,
    and the next pass re-opened every journal the woken actors were about to open."""
    return row if row.status in _FINAL else replace(row, status="")


def _key(row: RowSnapshot) -> RowKey:
    return (row.workflow, row.id, row.generation)


class AnalyticsService:
    """An :class:`AnalyticsStore` driven from an asyncio event loop."""

    def __init__(
        self, root: Path, *, retention: float = DEFAULT_RETENTION, fold_wait: float = FOLD_WAIT
    ) -> None:
        self.store = AnalyticsStore(root, retention=retention)
        self.fold_wait = fold_wait
        self._wake = asyncio.Event()
        self._summary: StepSummary | None = None
        self._seen: dict[RowKey, Stamp] = {}  # what the last pass read, per row

    async def ingest(
        self, rows: Iterable[InstanceLike], *, whole_table: bool = False, fold_wait: float = 0.0
    ) -> IngestReport:
        """One ingest pass in a thread (``rows``: instances that are not live); rows
        unchanged since they were last ingested are skipped. ``whole_table``: ``rows``
        are every such instance, so rows not among them are forgotten."""
        snapshot = [RowSnapshot.of(row) for row in rows]
        report = await asyncio.to_thread(self._ingest_changed, snapshot, whole_table, fold_wait)
        if report.added or self._summary is None:
            # Read in the ingest's own lock (the pass's events are one commit): a
            # query that sees them finds the summary of them too.
            self._summary = self.store.summary
        return report

    def _ingest_changed(
        self, rows: list[RowSnapshot], whole_table: bool, fold_wait: float
    ) -> IngestReport:
        stamps = {(r.workflow, r.id, r.generation): self._stamp(r) for r in rows}
        changed = [r for r in rows if self._seen.get(_key(r)) != stamps[_key(r)]]
        report = self.store.ingest(changed, fold_wait=fold_wait)
        for key in report.busy_keys:
            stamps.pop(key, None)  # its actor still held the journal: read it next pass
        if whole_table:
            self._seen = stamps  # rows gone from the table are forgotten
        else:
            self._seen.update(stamps)
        return report

    def _stamp(self, row: RowSnapshot) -> Stamp:
        seen = self._seen.get(_key(row))
        if seen is not None and seen[0] == row and seen[1] < 0 and row.status in _FINAL:
            # Final, unchanged, its journal folded away when last seen: a journal comes
            # back only with a restart, which changes the row. No stat() per finished
            # row per pass: those grew with the table (most of a pass's own CPU).
            return seen
        try:
            stat = journal_path(self.store.root, row.workflow, row.id).stat()
        except OSError:
            return (_as_derived(row), -1, -1)
        return (_as_derived(row), stat.st_size, stat.st_mtime_ns)

    def poke(self) -> None:
        """Ingest soon (an instance became final or hibernated)."""
        self._wake.set()

    async def run(
        self,
        rows: Callable[[], Iterable[InstanceLike]],
        every: float = INGEST_EVERY,
        settle: float = POKE_SETTLE,
    ) -> None:
        """Forever: ingest, then wait ``every`` seconds, or ``settle`` seconds after
        a :meth:`poke`."""
        while True:
            awaiting = 0
            try:
                passed = await self.ingest(rows(), whole_table=True, fold_wait=self.fold_wait)
                awaiting = passed.awaiting_fold
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("analytics ingest failed")
            self._wake.clear()
            try:  # instances left for the fold: look again soon
                await asyncio.wait_for(self._wake.wait(), timeout=settle if awaiting else every)
                await asyncio.sleep(settle)  # the pokes of a burst of run ends: one pass
            except asyncio.TimeoutError:
                pass

    async def query(self, query: AnalyticsQuery) -> AnalyticsResult:
        return await asyncio.to_thread(self.store.query, query)

    def stats(self) -> dict[str, Any]:
        """The analytics fields of the supervisor's ``stats()``."""
        return {} if self._summary is None else {"steps": self._summary.model_dump()}

    def close(self) -> None:
        self.store.close()
