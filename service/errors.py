"""Every error the gateway returns, in Cloudflare's v4 envelope.

.. code-block:: json

    {"success": false,
     "errors": [{"code": 10406,
                 "message": "instance.not_found: instance 'x' does not exist in workflow 'hello'"}],
     "messages": [], "result": null}

``code`` is the error's stable integer (Cloudflare's clients read an integer
there); the message starts with the stable dotted code (``instance.not_found``)
followed by ``": "`` and the human message, so that the dotted code is visible
to every client, including the official ``cloudflare`` SDK
(``err.errors[0].message``) and our own HTTP transport, which rebuilds the
error class from it. The HTTP status is the error class's ``http_status``.
Nothing a client sends produces a traceback: unexpected failures are a 500
envelope and a log line on the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pyflow_actors.errors import MethodNotAllowed, NotFound, PyflowError, ValidationError

log = logging.getLogger("pyflow.gateway")


def wire_message(error: PyflowError) -> str:
    """``"<dotted code>: <message>"``: the dotted code is visible to every client."""
    return f"{error.code}: {error.message}"


def envelope(
    result: Any = None,
    *,
    result_info: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cloudflare's v4 response envelope."""
    body: dict[str, Any] = {
        "success": not errors,
        "errors": errors or [],
        "messages": [],
        "result": result,
    }
    if result_info is not None:
        body["result_info"] = result_info
    return body


def error_response(error: PyflowError) -> JSONResponse:
    headers = {}
    status = error.http_status
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="pyflow"'
    if status == 429:
        headers["Retry-After"] = "1"
    elif 400 <= status < 500:
        # The cloudflare SDK retries 408/409/429 by default; a conflict will not go away.
        headers["x-should-retry"] = "false"
    body = envelope(errors=[{"code": error.numeric_code, "message": wire_message(error)}])
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        kind = {"query": "query parameter", "path": "path parameter", "body": "body field"}.get(
            where, where
        )
        parts.append(f"{kind} {name!r}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _on_pyflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PyflowError)
    if exc.http_status >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, exc.code, exc.message)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ValidationError(_describe_validation(exc)))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error: PyflowError = NotFound(f"no route {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        error = PyflowError(str(exc.detail))
        error.http_status = exc.status_code  # type: ignore[misc]
    return error_response(error)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed unexpectedly", request.method, request.url.path)
    return error_response(
        PyflowError(f"unexpected server error ({type(exc).__name__}); see the gateway log")
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes a v4 envelope with a 4xx/5xx status; never a traceback."""
    app.add_exception_handler(PyflowError, _on_pyflow_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
