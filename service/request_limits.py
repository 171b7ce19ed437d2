"""Limits on a request before any route sees it: the size of its headers.

Bodies are bounded where they are read (``schemas.read_bounded``, per route);
uvicorn's own limits (connections, idle keep-alive, incomplete headers) are
set where ``pyflow dev`` starts it (``pyflow_actors/cli/dev.py``). This ASGI
middleware refuses a request whose headers together exceed ``max_bytes`` with
a 431 in the v4 envelope, whatever server runs the app.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from pyflow_actors.errors import HeadersTooLarge

from .errors import error_response

MAX_HEADER_BYTES = 64 * 1024


class HeaderSizeLimit:
    """ASGI middleware: 431 for headers over ``max_bytes`` (names and values)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                error = HeadersTooLarge(
                    f"request headers are {size} bytes: the limit is {self.max_bytes} bytes"
                )
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
