"""Subscription shapes that cross the transports: the pull-consumer queue's
(Cloudflare Queues' HTTP pull consumer) and the dead letters'.

Plain models; the leasing itself is the outbox's
(:mod:`pyflow_actors.storage.outbox`), driven by
:func:`pyflow_actors.subscriptions.delivery.pull_queue` / ``ack_queue``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BATCH_SIZE = 5
MAX_BATCH_SIZE = 100
DEFAULT_VISIBILITY_MS = 30_000
MAX_VISIBILITY_MS = 12 * 3600 * 1000


class PulledMessage(BaseModel):
    """One leased message; ``body`` is the message's JSON text."""

    model_config = ConfigDict(frozen=True)

    id: str
    body: str
    timestamp_ms: float
    attempts: int
    lease_id: str


class PullResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    messages: list[PulledMessage] = Field(default_factory=list)
    backlog_count: int = 0
    backlog_bytes: int = 0
    oldest_message_timestamp_ms: float = 0.0


class AckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ack_count: int = 0
    retry_count: int = 0
    warnings: dict[str, str] = Field(default_factory=dict)


class DeadLetter(BaseModel):
    """A message that kept failing, set aside (``pyflow subscriptions dead-letters``)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    subscription: str
    queue: str | None = None
    workflow: str
    instance_id: str
    body: str
    attempts: int
    last_error: str | None = None
    dead_at: float
