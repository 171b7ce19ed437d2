"""``/client/v4/accounts/{account_id}/queues/{queue_id}/messages/pull|ack``.

Cloudflare Queues' HTTP pull consumer, for the subscription queues declared
in ``pyflow.toml`` (``[[subscriptions]] queue = "..."``; the queue id is that
name), so that the official ``cloudflare`` SDK's ``queues.messages.pull`` and
``queues.messages.ack`` work against the gateway. Each message body is the
subscription message's JSON, base64-encoded (content type ``json``, as
Cloudflare sends it over HTTP).
"""

from __future__ import annotations

import base64
import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from pyflow_actors.errors import EngineUnavailable, QueueNotFound, ValidationError
from pyflow_actors.subscriptions.pull import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_VISIBILITY_MS,
    MAX_BATCH_SIZE,
    MAX_VISIBILITY_MS,
)
from service.auth import require_token
from service.envelope import Envelope, error_responses
from service.openapi_docs import json_body
from service.schemas import _Request, parse_request, read_json

from . import config

router = APIRouter(
    prefix="/client/v4/accounts/{account_id}/queues/{queue_id}/messages",
    dependencies=[Depends(require_token)],
    tags=["queues"],
)
MAX_BODY = 1 << 20


class PullRequest(_Request):
    batch_size: float | None = None
    visibility_timeout_ms: float | None = None
    visibility_timeout: float | None = None  # an older docs example's name (milliseconds)


class AckItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: str


class RetryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_id: str
    delay_seconds: float = 0


class AckRequest(_Request):
    acks: list[AckItem] = []
    retries: list[RetryItem] = []


class QueueMessageOut(BaseModel):
    id: str
    body: str = Field(description="the message's JSON, base64-encoded")
    timestamp_ms: float
    attempts: int
    lease_id: str
    metadata: dict[str, str]


class PullOut(BaseModel):
    """Cloudflare Queues' pull response."""

    messages: list[QueueMessageOut]
    message_backlog_count: int
    metadata: dict[str, dict[str, float]]


class AckOut(BaseModel):
    """Cloudflare Queues' ack response."""

    ackCount: int  # noqa: N815 - Cloudflare's field names
    retryCount: int  # noqa: N815
    warnings: dict[str, str]


def _engine(request: Request, method: str) -> Any:
    """The transport's ``queue_pull``/``queue_ack`` (an engine without subscriptions has none)."""
    call = getattr(request.app.state.client.transport, method, None)
    if call is None:
        raise EngineUnavailable("this engine does not serve subscription queues")
    return call


def _queue(request: Request, queue_id: str) -> str:
    if not any(s.queue == queue_id for s in config(request).subscriptions):
        raise QueueNotFound(
            f"queue {queue_id!r} does not exist: declare it in a [[subscriptions]] block"
        )
    return queue_id


def _bounded(value: float | None, default: float, low: float, high: float, name: str) -> float:
    if value is None:
        return default
    if not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


@router.post(
    "/pull",
    responses=error_responses(QueueNotFound),
    openapi_extra=json_body(PullRequest, description="how many messages, for how long"),
)
async def pull_messages(request: Request, queue_id: str) -> Envelope[PullOut]:
    """Lease a batch: ``{"batch_size"?: 1-100, "visibility_timeout_ms"?: up to 12 h}``."""
    queue = _queue(request, queue_id)
    body = await read_json(request, MAX_BODY)
    req = parse_request(PullRequest, body or {}, "request body")
    batch = _bounded(req.batch_size, DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE, "batch_size")
    if batch != int(batch):
        raise ValidationError(f"batch_size must be a whole number, not {batch:g}")
    visibility = (
        req.visibility_timeout_ms
        if req.visibility_timeout_ms is not None
        else req.visibility_timeout
    )
    visibility = _bounded(
        visibility, DEFAULT_VISIBILITY_MS, 1, MAX_VISIBILITY_MS, "visibility_timeout_ms"
    )
    result = await _engine(request, "queue_pull")(queue, int(batch), visibility)
    messages = [
        QueueMessageOut(
            id=m.id,
            body=base64.b64encode(m.body.encode()).decode(),
            timestamp_ms=m.timestamp_ms,
            attempts=m.attempts,
            lease_id=m.lease_id,
            metadata={"CF-sourceMessageSource": "event-subscription", "CF-Content-Type": "json"},
        )
        for m in result.messages
    ]
    metrics = {
        "backlog_count": float(result.backlog_count),
        "backlog_bytes": float(result.backlog_bytes),
        "oldest_message_timestamp_ms": result.oldest_message_timestamp_ms,
    }
    return Envelope[PullOut](
        result=PullOut(
            messages=messages,
            message_backlog_count=result.backlog_count,
            metadata={"metrics": metrics},
        )
    )


@router.post(
    "/ack",
    responses=error_responses(QueueNotFound),
    openapi_extra=json_body(AckRequest, description="the leases to acknowledge or retry"),
)
async def ack_messages(request: Request, queue_id: str) -> Envelope[AckOut]:
    """``{"acks": [{"lease_id"}], "retries": [{"lease_id", "delay_seconds"?}]}``."""
    queue = _queue(request, queue_id)
    body = await read_json(request, MAX_BODY)
    req = parse_request(AckRequest, body or {}, "request body")
    retries = [
        (r.lease_id, _bounded(r.delay_seconds, 0, 0, 43_200, "delay_seconds")) for r in req.retries
    ]
    result = await _engine(request, "queue_ack")(queue, [a.lease_id for a in req.acks], retries)
    return Envelope[AckOut](
        result=AckOut(
            ackCount=result.ack_count, retryCount=result.retry_count, warnings=result.warnings
        )
    )
