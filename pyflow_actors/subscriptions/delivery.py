"""Delivery of subscription messages: from status changes to the outbox, and
from the outbox to webhooks.

Used by the supervisor (it owns the registry, hence the outbox); imported
explicitly (``pyflow_actors.subscriptions.delivery``), not by the package, as
it needs the storage layer and an HTTP client.

.. code-block:: python

    items = outbox_items(change, config.subscriptions, account_id=..., version_id=...)
    registry.save(row, items)                 # the change and its messages, one transaction
    ...
    sender = WebhookSender(registry.outbox, config.subscriptions)
    await sender.deliver_due()                # in the supervisor's delivery loop

Delivery is at least once: a receiver may see a message twice (after a crash
between its 2xx and our record of it) and can tell by ``X-Pyflow-Delivery``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported when the first webhook is sent: the
    import httpx  # supervisor with no webhook never loads it (nor its CLI deps)

from ..analytics.stats import HistogramSnapshot
from ..storage.outbox import Outbox, OutboxItem, OutboxMessage
from .messages import StatusChange, messages_for
from .pull import AckResult, DeadLetter, PulledMessage, PullResult
from .signing import SIGNATURE_HEADER, sign
from .spec import SubscriptionSpec

DELIVERY_HEADER = "X-Pyflow-Delivery"
DEFAULT_TIMEOUT = 10.0
_GONE = "subscription no longer configured"


def outbox_items(
    change: StatusChange,
    subscriptions: Iterable[SubscriptionSpec],
    *,
    account_id: str,
    version_id: str,
) -> list[OutboxItem]:
    """The outbox rows one status change publishes (one per subscription that wants it)."""
    return [
        OutboxItem(
            subscription=spec.name,
            workflow=change.workflow,
            instance_id=change.instance_id,
            body=message.model_dump_json(),
            queue=spec.queue,
        )
        for spec, message in messages_for(
            change, subscriptions, account_id=account_id, version_id=version_id
        )
    ]


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class WebhookSender:
    """POSTs due webhook messages; records each outcome in the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        subscriptions: Sequence[SubscriptionSpec],
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.outbox = outbox
        self.subscriptions = {spec.name: spec for spec in subscriptions}
        self._client = client
        self._timeout = timeout
        self._latencies: deque[float] = deque(maxlen=10_000)

    async def deliver_due(self, now: float | None = None, limit: int = 100) -> DeliveryReport:
        """Send what is due now (at most one message per instance and subscription)."""
        now = time.time() if now is None else now
        report = DeliveryReport()
        due = self.outbox.due(now, limit)
        outcomes = await asyncio.gather(*(self._post(m, now) for m in due))
        for message, error in zip(due, outcomes, strict=True):
            if error == _GONE:
                report.dead += 1
            elif error is None:
                self.outbox.delivered(message.seq)
                self._latencies.append(max(0.0, time.time() - message.created_at))
                report.delivered += 1
            elif self.outbox.failed(message.seq, error, now):
                report.dead += 1
            else:
                report.failed += 1
        return report

    async def _post(self, message: OutboxMessage, now: float) -> str | None:
        """``None`` on a 2xx, else what went wrong."""
        spec = self.subscriptions.get(message.subscription)
        if spec is None or not spec.url:
            self.outbox.dead_letter(
                message.seq, f"subscription {message.subscription!r} is no longer configured", now,
            )  # fmt: skip
            return _GONE
        body = message.body.encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(message.seq)}
        if spec.secret:
            headers[SIGNATURE_HEADER] = sign(spec.secret, body)
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._client.post(spec.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def latency(self) -> HistogramSnapshot:
        """Change-to-2xx latency of recent deliveries (``pyflow_event_delivery_seconds``)."""
        return HistogramSnapshot.of(list(self._latencies))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def pull_queue(
    outbox: Outbox,
    queue: str,
    batch_size: int,
    visibility_timeout_ms: float,
    now: float | None = None,
) -> PullResult:
    """Lease up to ``batch_size`` messages of ``queue`` (the supervisor's ``queue_pull``)."""
    now = time.time() if now is None else now
    leased = outbox.pull(queue, batch_size, visibility_timeout_ms / 1000, now)
    count, size, oldest = outbox.queue_backlog(queue)
    return PullResult(
        messages=[
            PulledMessage(
                id=str(m.seq), body=m.body, timestamp_ms=m.created_at * 1000,
                attempts=m.attempts, lease_id=m.lease_id or "",
            )
            for m in leased
        ],
        backlog_count=count, backlog_bytes=size, oldest_message_timestamp_ms=oldest * 1000,
    )  # fmt: skip


def ack_queue(
    outbox: Outbox,
    queue: str,
    acks: list[str],
    retries: list[tuple[str, float]],
    now: float | None = None,
) -> AckResult:
    """Acknowledge or retry leases of ``queue`` (the supervisor's ``queue_ack``)."""
    now = time.time() if now is None else now
    acked, retried, warnings = outbox.ack(queue, acks, retries, now)
    return AckResult(ack_count=acked, retry_count=retried, warnings=warnings)


def dead_letters(outbox: Outbox, subscription: str | None, limit: int) -> list[DeadLetter]:
    """The newest dead letters of ``subscription`` (or all), newest first."""
    return [DeadLetter(**row) for row in outbox.dead_letters(limit, subscription)]
