"""``GET .../workflows/{workflow_name}/instances/{instance_id}/subscribe``: an
instance's events as server-sent events, live.

.. code-block:: text

    GET .../instances/order-1/subscribe?cursor=3&filter=step_completed
    Accept: text/event-stream

    id: 4
    event: step_completed
    data: {"instanceId": "order-1", "eventId": 4, "timestamp": 1764233337132.0,
           "type": "step_completed", "stepName": "charge", "output": "ok"}

The history comes first (every event after ``cursor``, or after the
``Last-Event-ID`` a reconnecting browser sends), then new events as they
happen; live status changes (``workflow_paused``...) come without an ``id``.
The stream ends after the terminal event. Events are the shape of
Cloudflare's ``instance.subscribe()`` (see
:mod:`pyflow_actors.subscriptions.instance_events`).

The stream reads the instance through the transport's ``describe`` every
:data:`POLL_SECONDS` (status from the registry; steps from the live actor or
the journal: it never wakes a hibernated instance).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from pyflow_actors.errors import InstanceNotFound, ValidationError, WorkflowNotFound
from pyflow_actors.models import InstanceDetail
from pyflow_actors.subscriptions.instance_events import (
    EVENT_TYPES,
    InstanceEvent,
    history_events,
    status_event,
)
from service.auth import require_token
from service.envelope import error_responses

from . import ACCOUNT_PREFIX, transport

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/instances",
    dependencies=[Depends(require_token)],
    tags=["instances"],
)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0


def _frame(event: InstanceEvent) -> ServerSentEvent:
    data = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    event_id = None if event.eventId is None else str(event.eventId)
    return ServerSentEvent(data=data, event=event.type, id=event_id)


def _options(
    cursor: str | None, last_event_id: str | None, filters: list[str]
) -> tuple[int, set[str]]:
    raw = cursor if cursor is not None else last_event_id
    start = 0
    if raw is not None:
        if not raw.isdigit():
            raise ValidationError(
                f"Invalid Workflow subscription options: cursor must be a whole number >= 0, not {raw!r}"
            )
        start = int(raw)
    unknown = sorted(set(filters) - EVENT_TYPES)
    if unknown:
        raise ValidationError(
            f"Invalid Workflow subscription options: unknown event type(s) {unknown}: "
            f"use some of {sorted(EVENT_TYPES)}"
        )
    return start, set(filters)


async def _events(
    request: Request, workflow: str, first: InstanceDetail, cursor: int, wanted: set[str]
) -> AsyncIterator[ServerSentEvent]:
    engine = transport(request)
    detail, seen_status = first, None
    while True:
        if seen_status is not None and detail.status.status != seen_status:
            live = status_event(detail.status.id, detail.status.status, time.time())
            if live is not None and (not wanted or live.type in wanted):
                yield _frame(live)
        seen_status = detail.status.status
        for event in history_events(detail):
            if event.eventId is None or event.eventId <= cursor:
                continue
            cursor = event.eventId
            if not wanted or event.type in wanted:
                yield _frame(event)
            if event.is_terminal:
                return
        if detail.status.is_final and not detail.status.ended_at:
            return  # final without an end time (should not happen): nothing more will come
        await asyncio.sleep(POLL_SECONDS)  # a client gone: sse-starlette cancels us
        detail = await engine.describe(workflow, detail.status.id)


@router.get(
    "/{instance_id}/subscribe",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the instance's events"},
        **error_responses(WorkflowNotFound, InstanceNotFound),
    },
)
async def subscribe(
    request: Request,
    workflow_name: str,
    instance_id: str,
    cursor: str | None = Query(None, description="resume after this eventId"),
    filter: list[str] = Query([], description="only these event types (repeatable)"),
) -> Any:
    """The instance's events as server-sent events, history first, until the terminal one."""
    start, wanted = _options(cursor, request.headers.get("last-event-id"), filter)
    # Read once before streaming, so a missing instance is a plain 404 envelope.
    detail = await transport(request).describe(workflow_name, instance_id)
    return EventSourceResponse(
        _events(request, workflow_name, detail, start, wanted),
        ping=HEARTBEAT_SECONDS,
        headers={"X-Accel-Buffering": "no"},
    )
