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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .query import AnalyticsQuery, AnalyticsResult
from .stats import StepSummary
from .store import DEFAULT_RETENTION, AnalyticsStore, IngestReport, InstanceLike

log = logging.getLogger("pyflow.analytics")

INGEST_EVERY = 30.0


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


class AnalyticsService:
    """An :class:`AnalyticsStore` driven from an asyncio event loop."""

    def __init__(self, root: Path, *, retention: float = DEFAULT_RETENTION) -> None:
        self.store = AnalyticsStore(root, retention=retention)
        self._wake = asyncio.Event()
        self._summary: StepSummary | None = None

    async def ingest(self, rows: Iterable[InstanceLike]) -> IngestReport:
        """One ingest pass in a thread (``rows``: instances that are not live)."""
        snapshot = [RowSnapshot.of(row) for row in rows]
        report = await asyncio.to_thread(self.store.ingest, snapshot)
        self._summary = await asyncio.to_thread(self.store.step_summary)
        return report

    def poke(self) -> None:
        """Ingest soon (an instance became final or hibernated)."""
        self._wake.set()

    async def run(
        self, rows: Callable[[], Iterable[InstanceLike]], every: float = INGEST_EVERY
    ) -> None:
        """Forever: ingest, then wait ``every`` seconds or until :meth:`poke`."""
        while True:
            try:
                await self.ingest(rows())
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("analytics ingest failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=every)
            except asyncio.TimeoutError:
                pass

    async def query(self, query: AnalyticsQuery) -> AnalyticsResult:
        return await asyncio.to_thread(self.store.query, query)

    def stats(self) -> dict[str, Any]:
        """The analytics fields of the supervisor's ``stats()``."""
        return {} if self._summary is None else {"steps": self._summary.model_dump()}

    def close(self) -> None:
        self.store.close()
