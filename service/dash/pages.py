"""What every dashboard page shares: templates, the signed-in scope, error pages.

A view runs through :func:`scoped`: without a session it redirects to the
sign-in page (never data); on an account its token does not hold it answers
403; an engine error (an unknown workflow, a refused action) becomes an HTML
page with the error's status and dotted code, never a traceback or JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pyflow_actors.client.transport import Transport
from pyflow_actors.errors import Forbidden, PyflowError, Unauthorized
from pyflow_actors.models import InstanceStatus

from .sessions import DashSession, current_session
from .statuses import status_class, status_is_final, status_name
from .timeline import clock, span

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
# The statuses a filter or a count can show (an instance is never stored as unknown).
SHOWN_STATUSES = [s for s in InstanceStatus if s is not InstanceStatus.UNKNOWN]
TEMPLATES.env.globals.update(clock=clock, span=span, statuses=SHOWN_STATUSES)
TEMPLATES.env.filters.update(
    status_name=status_name, status_class=status_class, status_is_final=status_is_final
)

# No inline script or style anywhere: the pages work under a strict policy.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

View = Callable[[DashSession], Awaitable[Response]]


def transport(request: Request) -> Transport:
    """The gateway's engine transport: the dashboard reads what the REST API reads."""
    engine: Transport = request.app.state.client.transport
    return engine


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    session: DashSession | None = None,
    status_code: int = 200,
) -> Response:
    """Template ``name`` with the session's accounts and CSRF token in its context."""
    context = {
        "session": session,
        "csrf": session.csrf if session else "",
        "accounts": session.accounts if session else (),
        **context,
    }
    return TEMPLATES.TemplateResponse(
        request, name, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def error_page(request: Request, error: PyflowError, session: DashSession | None) -> Response:
    context = {"error": error, "account": session.accounts[0] if session else None}
    return render(request, "error.html", context, session=session, status_code=error.http_status)


def to_sign_in() -> Response:
    return RedirectResponse("/dash/signin", status_code=303, headers=SECURITY_HEADERS)


async def scoped(request: Request, account: str | None, view: View) -> Response:
    """Run ``view`` for the signed-in session on ``account`` (``None``: any account)."""
    try:
        session = current_session(request)
    except Unauthorized:
        return to_sign_in()
    if account is not None and account not in session.accounts:
        denied = Forbidden(f"your API token is not allowed on account {account!r}")
        return error_page(request, denied, session)
    try:
        return await view(session)
    except PyflowError as error:
        return error_page(request, error, session)
