"""What the supervisor lets operators see: metrics events, subscriptions, figures.

Owns the analytics service (metrics events derived from journals and registry
rows by a background ingest, never on the hot path), the subscription
publisher (messages written to the durable outbox in the same transaction as
the status change that causes them, delivered at least once, in order per
instance) and the supervisor's own figures for ``/metrics``.

Counts by status are of the status each instance *shows* (:func:`shown_statuses`),
the one its status, describe and a list filtered by status give: a live run
waiting in its process, or held by its host until its alarm (pre-activated),
counts as waiting though its row says running; one terminated with rollback
counts as rollingBack until the rollback is done, live or still queued.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...analytics.service import AnalyticsService
from ...analytics.stats import HistogramSnapshot
from ...config import EngineConfig
from ...models import InstanceStatus
from ...storage.outbox import OutboxItem
from ...storage.registry import InstanceRow, Registry
from ...subscriptions.publisher import Publisher
from .actors import InstanceActors
from .table import InstanceTable, Key, shown_status

LOOP_PROBE_SECONDS = 1.0


def shown_statuses(table: InstanceTable, actors: InstanceActors) -> dict[Key, InstanceStatus]:
    """The instances whose shown status is not their row's, with the one shown: live
    ones (waiting in their process, rolling back) and those terminated with rollback
    that are not live yet (queued for a slot: their row says queued)."""
    shown: dict[Key, InstanceStatus] = {
        row.key: InstanceStatus.ROLLING_BACK
        for row in table.rolling_back()
        if row.status != InstanceStatus.ROLLING_BACK
    }
    for key, live in actors.live.items():
        row = table.get(key)
        if row is not None:
            status = shown_status(row, live.waiting, live.rolling_back)
            if status != row.status:
                shown[key] = status
    return shown


class Observability:
    def __init__(self, registry: Registry, config: EngineConfig) -> None:
        self.publisher = Publisher(
            registry,
            config.subscriptions,
            account_id=os.environ.get("PYFLOW_ACCOUNT") or "local",
        )
        self.analytics = AnalyticsService(
            Path(config.storage), retention=config.analytics_retention
        )
        self.loop_lag = 0.0

    def configure(self, config: EngineConfig) -> None:
        self.publisher.configure(config.subscriptions)

    def messages(self, row: InstanceRow, before: InstanceStatus | None) -> list[OutboxItem]:
        """The subscription messages of a status change (see ``table.set_status``)."""
        return self.publisher.messages(
            row.workflow, row.id, before, row.status, version_id=row.version_id or "v1"
        )

    def tasks(self, not_live: Callable[[], list[InstanceRow]]) -> list[asyncio.Future[None]]:
        """The background work: ingest metrics events, deliver messages, probe the loop."""
        return [
            asyncio.ensure_future(self.analytics.run(not_live)),
            asyncio.ensure_future(self.publisher.run()),
            asyncio.ensure_future(self._probe_loop_lag()),
        ]

    def run_ended(self) -> None:
        self.analytics.poke()  # its journal has news for the metrics

    async def _probe_loop_lag(self) -> None:
        """How late the event loop runs a 1 s sleep: a blocked supervisor shows here."""
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(LOOP_PROBE_SECONDS)
            self.loop_lag = max(0.0, loop.time() - began - LOOP_PROBE_SECONDS)

    def figures(self, table: InstanceTable, actors: InstanceActors) -> dict[str, Any]:
        """The figures ``/metrics`` shows (see service/metrics.py)."""
        shown = shown_statuses(table, actors)
        by_workflow: dict[str, dict[str, int]] = {}
        for (workflow, status), n in table.shown_counts(shown).items():
            if n:
                by_workflow.setdefault(workflow, {})[status.value] = n
        resting = (InstanceStatus.WAITING, InstanceStatus.PAUSED)
        return {
            "hibernated": sum(1 for r in table if r.status in resting and r.key not in actors),
            "by_workflow_status": by_workflow,
            "by_status": table.by_status(shown),
            "activations_total": actors.activations,
            "activation_seconds": HistogramSnapshot.of(list(actors.activation_times)).model_dump(),
            "loop_lag_seconds": self.loop_lag,
            "storage_errors_total": table.storage_errors,
            **self.publisher.stats(),
            **self.analytics.stats(),
        }

    async def close(self) -> None:
        await self.publisher.close()
        self.analytics.close()
