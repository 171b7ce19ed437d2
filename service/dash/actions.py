"""The dashboard's actions on an instance: pause, resume, terminate, restart (from
the beginning or from a chosen step), send an event.

Each is a form post carrying the session's CSRF token (and, when the browser
sends one, a same-origin ``Origin``); the page asks for a confirmation before
the form is sent. After it the browser is sent back to the instance's page
(post/redirect/get), which says what was done.
"""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pyflow_actors.client.transport import ControlAction
from pyflow_actors.errors import ValidationError
from pyflow_actors.limits import validate_event_type

from .pages import scoped, transport
from .restart_points import parse_restart_point
from .sessions import DashSession, check_csrf

router = APIRouter(
    prefix="/dash/a/{account}/workflows/{workflow}/instances/{instance}", include_in_schema=False
)

CONTROL_ACTIONS = ("pause", "resume", "terminate", "restart")


def _back(account: str, workflow: str, instance: str, done: str, **more: str) -> Response:
    query = urlencode({"done": done, **more})
    url = f"/dash/a/{account}/workflows/{workflow}/instances/{instance}?{query}"
    return RedirectResponse(url, status_code=303)


@router.post("/control")
async def control(
    request: Request,
    account: str,
    workflow: str,
    instance: str,
    action: str = Form(""),
    rollback: str = Form(""),
    csrf: str = Form(""),
    from_step: str = Form("", alias="from"),
) -> Response:
    """Pause, resume, terminate (with ``rollback`` checked: its handlers first) or
    restart the instance (a restart ``from`` a step: ``type:count:name``, as
    :mod:`.restart_points` lists them)."""

    async def view(session: DashSession) -> Response:
        check_csrf(request, session, csrf)
        if action not in CONTROL_ACTIONS:
            raise ValidationError(f"action {action!r} is unknown: use one of {CONTROL_ACTIONS}")
        target = parse_restart_point(from_step)
        if target is not None and action != "restart":
            raise ValidationError(f"a step to start from is only for a restart, not for {action}")
        if rollback and action != "terminate":
            raise ValidationError(f"rollback is only for a terminate, not for {action}")
        await transport(request).control(
            workflow, instance, cast(ControlAction, action), target, rollback=rollback == "true"
        )
        if target is not None:
            return _back(account, workflow, instance, "restart-from", step=target.step_key)
        return _back(account, workflow, instance, action)

    return await scoped(request, account, view)


def parse_payload(text: str) -> Any:
    """The event payload typed in the form: JSON, or ``null`` when left empty."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"the event payload is not JSON: {error.msg} (line {error.lineno})"
        ) from None


@router.post("/event")
async def send_event(
    request: Request,
    account: str,
    workflow: str,
    instance: str,
    type: str = Form(""),  # noqa: A002 - Cloudflare's word
    payload: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """Send an event of ``type`` with a JSON ``payload`` to the instance."""

    async def view(session: DashSession) -> Response:
        check_csrf(request, session, csrf)
        event_type = type.strip()
        validate_event_type(event_type)
        await transport(request).send_event(workflow, instance, event_type, parse_payload(payload))
        return _back(account, workflow, instance, "event")

    return await scoped(request, account, view)
