"""The supervisor's side of subscriptions, in one object: what a status change
publishes, the delivery loop, the pull queues and the stats.

.. code-block:: python

    publisher = Publisher(registry, config.subscriptions, account_id="local")
    # at every status change (before: None for a new instance):
    registry.save(row, publisher.messages(row.workflow, row.id, before, after))
    # once, as a task of the supervisor's event loop:
    asyncio.create_task(publisher.run())

Everything here runs on the supervisor's event loop (the outbox shares the
registry's DuckDB connection); the HTTP calls are the only waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from ..models import InstanceStatus
from ..storage.outbox import OutboxItem
from ..storage.registry import Registry
from .delivery import WebhookSender, ack_queue, dead_letters, outbox_items, pull_queue
from .messages import StatusChange
from .pull import AckResult, DeadLetter, PullResult
from .spec import SubscriptionSpec

log = logging.getLogger("pyflow.subscriptions")

IDLE_SECONDS = 0.5


class Publisher:
    """Subscriptions of one engine: messages to the outbox, outbox to receivers."""

    def __init__(
        self,
        registry: Registry,
        subscriptions: Sequence[SubscriptionSpec],
        *,
        account_id: str,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.registry, self.subscriptions = registry, tuple(subscriptions)
        self.account_id = account_id
        self.sender = WebhookSender(registry.outbox, self.subscriptions, client=client)

    def configure(self, subscriptions: Sequence[SubscriptionSpec]) -> None:
        """Take a new list of subscriptions (messages already in the outbox stay)."""
        self.subscriptions = tuple(subscriptions)
        self.sender.subscriptions = {spec.name: spec for spec in self.subscriptions}

    def messages(
        self,
        workflow: str,
        instance_id: str,
        before: InstanceStatus | str | None,
        after: InstanceStatus | str,
        *,
        version_id: str = "v1",
        at: float | None = None,
    ) -> list[OutboxItem]:
        """The outbox rows of one status change (empty when nobody subscribes to it)."""
        if not self.subscriptions:
            return []
        change = StatusChange(
            workflow, instance_id, None if before is None else InstanceStatus(before),
            InstanceStatus(after), time.time() if at is None else at,
        )  # fmt: skip
        return outbox_items(
            change, self.subscriptions, account_id=self.account_id, version_id=version_id
        )

    async def deliver_once(self) -> int:
        """Send what is due; how many messages were handled (delivered or not)."""
        report = await self.sender.deliver_due()
        return report.delivered + report.failed + report.dead

    async def run(self, idle: float = IDLE_SECONDS) -> None:
        """The delivery loop: forever, at once while there is work, else every ``idle`` s
        (with no subscription configured, it only checks for one every ``idle`` s)."""
        while True:
            if not self.subscriptions:  # no query of the outbox on the supervisor's loop
                await asyncio.sleep(idle)
                continue
            try:
                busy = await self.deliver_once()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("subscription delivery pass failed")
                busy = 0
            if not busy:
                await asyncio.sleep(idle)

    def pull(self, queue: str, batch_size: int, visibility_timeout_ms: float) -> PullResult:
        return pull_queue(self.registry.outbox, queue, batch_size, visibility_timeout_ms)

    def ack(self, queue: str, acks: list[str], retries: list[tuple[str, float]]) -> AckResult:
        return ack_queue(self.registry.outbox, queue, acks, retries)

    def dead_letters(self, subscription: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, newest first (the supervisor's ``dead_letters``)."""
        return dead_letters(self.registry.outbox, subscription, limit)

    def stats(self) -> dict[str, Any]:
        """The subscription fields of the supervisor's ``stats()``."""
        return {
            "subscription_backlog": self.registry.outbox.backlog(),
            "subscription_dead_letters": self.registry.outbox.dead_letter_counts(),
            "event_delivery_seconds": self.sender.latency().model_dump(),
        }

    async def close(self) -> None:
        await self.sender.close()
