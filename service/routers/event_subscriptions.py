"""``GET /client/v4/accounts/{account_id}/event_subscriptions/dead_letters``: the
subscription messages that kept failing (an extension; ``pyflow subscriptions
dead-letters`` reads it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from pyflow_actors.errors import EngineUnavailable
from service.auth import require_token
from service.errors import envelope

router = APIRouter(
    prefix="/client/v4/accounts/{account_id}/event_subscriptions",
    dependencies=[Depends(require_token)],
    tags=["event subscriptions"],
)


@router.get("/dead_letters")
async def list_dead_letters(
    request: Request,
    subscription: str | None = Query(None, description="only this subscription's"),
    limit: int = Query(100, ge=1, le=1000, description="at most this many, newest first"),
) -> dict[str, Any]:
    """Messages set aside after their last failed delivery, newest first."""
    call = getattr(request.app.state.client.transport, "dead_letters", None)
    if call is None:
        raise EngineUnavailable("this engine does not keep dead letters")
    letters = await call(subscription, limit)
    return envelope([letter.model_dump() for letter in letters])
