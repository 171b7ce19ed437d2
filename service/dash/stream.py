"""An instance's events for its dashboard page: the REST subscribe stream, behind the session.

The browser's ``EventSource`` cannot send an ``Authorization`` header (and the
token must not travel in a URL), so the page listens here, signed in by its
cookie; the events are those of ``GET .../instances/{id}/subscribe``
(:mod:`service.routers.subscribe`), history first, then as they happen. The
page's script fetches its live part again on each event, and falls back to
polling when the stream is unavailable.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pyflow_actors.subscriptions.instance_events import EVENT_TYPES

from ..routers import subscribe
from .pages import scoped
from .sessions import DashSession

router = APIRouter(prefix="/dash/a/{account}", include_in_schema=False)

# What the page's script listens for (server-sent events with a name reach only
# the listeners of that name).
EVENT_NAMES = " ".join(sorted(EVENT_TYPES))


@router.get("/workflows/{workflow}/instances/{instance}/events")
async def instance_events(request: Request, account: str, workflow: str, instance: str) -> Response:
    """The instance's subscribe stream (``text/event-stream``) for a signed-in page."""

    async def view(session: DashSession) -> Response:
        stream: Response = await subscribe.subscribe(request, workflow, instance, None, [])
        return stream

    return await scoped(request, account, view)
