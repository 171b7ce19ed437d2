"""What the supervisor serves beside instances: analytics, pull queues, dead
letters, workflow versions, Workers' cron fires, its own figures, and what
instance actors tell it of their runs (waiting in the process, rolling back).

A mixin of :class:`~.actor.Supervisor`: thin calls into the managers that own
the state (``observe``, ``catalog``, the registry, ``actors``, ``warm``), kept
apart so that ``actor.py`` holds the instance API and the glue.
"""

from __future__ import annotations

import os
from typing import Any

from ...analytics.query import AnalyticsQuery, AnalyticsResult
from ...config import EngineConfig
from ...cron import validate_cron
from ...engine.waits import WaitSummary
from ...models import InstanceStatus, Placement, WorkflowInfo
from ...storage.registry import Registry
from ...subscriptions.pull import AckResult, DeadLetter, PullResult
from ...versions import VersionInfo
from .actors import InstanceActors
from .alarms import Alarms
from .history import HistoryFolding
from .observe import Observability, shown_statuses
from .preactivation import SharedPreactivation
from .recovery import learn_waits, take_wait_report
from .table import InstanceTable, Key
from .warm import WarmPool
from .workflows import WorkflowCatalog


class ServiceAPI:
    """Supervisor methods that read or pass through to one manager each."""

    config: EngineConfig
    registry: Registry
    catalog: WorkflowCatalog
    table: InstanceTable
    alarms: Alarms
    actors: InstanceActors
    warm: WarmPool
    history: HistoryFolding
    observe: Observability
    preactive: SharedPreactivation

    async def note_rollback(self, workflow: str, instance_id: str, generation: int) -> None:
        """An instance's actor says its run runs rollback handlers: it shows rollingBack."""
        live = self.actors.live.get((workflow, instance_id))
        if live is not None and live.generation == generation:
            live.rolling_back = True

    async def note_wait(
        self,
        workflow: str,
        instance_id: str,
        generation: int,
        report: int,
        wait: WaitSummary | None,
    ) -> None:
        """An instance's actor says its run waits in the process (or is busy again):
        its status shows waiting at once, not only once it hibernates."""
        live = self.actors.live.get((workflow, instance_id))
        if live is not None:
            take_wait_report(live, generation, report, wait)

    async def learn_adopted_waits(self) -> None:
        """Recovery: ask the adopted dedicated actors what their runs wait for (a
        shared host tells it again itself when the run is adopted)."""
        await learn_waits(
            live
            for (workflow, _), live in self.actors.live.items()
            if self.placement_of(workflow) == Placement.DEDICATED
        )

    def placement_of(self, workflow: str) -> Placement:
        raise NotImplementedError  # the Supervisor's

    async def start(self) -> bool:
        raise NotImplementedError  # the Supervisor's

    # -- workflows ------------------------------------------------------------

    async def list_workflows(self) -> list[WorkflowInfo]:
        await self.start()
        return [self._workflow_info(name) for name in sorted(self.catalog.specs)]

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        await self.start()
        return self._workflow_info(self.catalog.spec(workflow).name)

    def _workflow_info(self, name: str) -> WorkflowInfo:
        return self.catalog.info(
            name, self.table.counts_of(name, shown_statuses(self.table, self.actors))
        )

    # -- analytics and subscriptions (service/graphql, the pull queues) ---------

    async def analytics_query(self, query: AnalyticsQuery) -> AnalyticsResult:
        await self.start()
        return await self.observe.analytics.query(query)

    async def queue_pull(
        self, queue: str, batch_size: int, visibility_timeout_ms: float
    ) -> PullResult:
        await self.start()
        return self.observe.publisher.pull(queue, batch_size, visibility_timeout_ms)

    async def queue_ack(
        self, queue: str, acks: list[str], retries: list[tuple[str, float]]
    ) -> AckResult:
        await self.start()
        return self.observe.publisher.ack(queue, acks, retries)

    async def dead_letters(self, subscription: str | None, limit: int) -> list[DeadLetter]:
        await self.start()
        return self.observe.publisher.dead_letters(subscription, limit)

    async def list_versions(self, workflow: str) -> list[VersionInfo]:
        """The workflow's versions, current first (without graphs)."""
        await self.start()
        return self.catalog.versions(workflow)

    async def get_version(self, workflow: str, version_id: str) -> VersionInfo:
        """One version of the workflow, with its graph."""
        await self.start()
        return self.catalog.version(workflow, version_id)

    # -- the Worker's cron schedules (service/worker_host.py fires them) ---------

    async def claim_cron_fire(self, worker: str, cron: str, fire_at: float) -> bool:
        """True once per fire of ``cron`` at ``fire_at``, across gateways and restarts."""
        await self.start()
        validate_cron(cron)
        return self.registry.claim_cron_fire(worker, cron, float(fire_at))

    async def last_cron_fire(self, worker: str, cron: str) -> float | None:
        await self.start()
        return self.registry.last_cron_fire(worker, cron)

    # -- introspection (tests, benchmarks, CLI) ----------------------------

    async def stats(self) -> dict[str, Any]:
        await self.start()
        return {
            "live_actors": len(self.actors),
            "max_running": self.config.max_running,
            "ready": self.table.count(InstanceStatus.QUEUED),
            "alarms": len(self.alarms),
            "warm_actors": len(self.warm),
            "warm_made": self.warm.made,
            "warm_admitted": self.warm.admitted,
            "warm_let_go": self.warm.let_go,
            "warm_activation_seconds": round(self.warm.activation_seconds, 3),
            **(self.warm.stock.stats() if self.warm.stock is not None else {}),
            **self.history.stats(),
            # The slots max_running bounds: not those of instances held until their alarm.
            "running_slots": len(self.actors) - self.preactive.waiting(),
            **self.preactive.figures(),
            **self.observe.figures(self.table, self.actors),  # counts by status shown
            "storage": str(self.config.storage),
            "hibernate_after": self.config.hibernate_after,
        }

    async def live_instances(self) -> list[Key]:
        await self.start()
        return list(self.actors.live)

    async def actor_pid(self, workflow: str, instance_id: str) -> int | None:
        return await self.actors.pid((workflow, instance_id))

    def pid(self) -> int:
        return os.getpid()
