"""``GET /client/v4/accounts/{account_id}/event_subscriptions/dead_letters``: the
subscription messages that kept failing (an extension; ``pyflow subscriptions
dead-letters`` reads it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from pyflow_actors.errors import EngineUnavailable
from pyflow_actors.subscriptions.pull import DeadLetter
from service.auth import require_token
from service.envelope import Envelope, error_responses

router = APIRouter(
    prefix="/client/v4/accounts/{account_id}/event_subscriptions",
    dependencies=[Depends(require_token)],
    tags=["event subscriptions"],
)


@router.get("/dead_letters", responses=error_responses())
async def list_dead_letters(
    request: Request,
    subscription: str | None = Query(None, description="only this subscription's"),
    limit: int = Query(100, ge=1, le=1000, description="at most this many, newest first"),
) -> Envelope[list[DeadLetter]]:
    """Messages set aside after their last failed delivery, newest first."""
    call = getattr(request.app.state.client.transport, "dead_letters", None)
    if call is None:
        raise EngineUnavailable("this engine does not keep dead letters")
    letters = await call(subscription, limit)
    return Envelope[list[DeadLetter]](result=list(letters))
