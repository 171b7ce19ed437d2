"""``POST /client/v4/graphql``: Cloudflare's GraphQL Analytics API, over the
engine's metrics events.

Auth is the gateway's bearer tokens; a token may query only the accounts it
holds (``accounts(filter: {accountTag: ...})`` on another account answers no
data and an error). The response is GraphQL's ``{"data", "errors"}``: HTTP 200
when the query ran (errors, if any, are per field), 400 when it could not run
at all (unparsable, invalid against the schema, bad variables). Errors carry the engine's
dotted code in ``extensions.code``; nothing a client sends produces a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ariadne import graphql
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError

from pyflow_actors.errors import PyflowError, ValidationError

from ..auth import authenticate_request
from ..envelope import error_responses
from ..errors import wire_message
from ..schemas import read_bounded
from .error_log import GraphQLErrorLog
from .resolvers import Context, build_schema

log = logging.getLogger("pyflow.gateway.graphql")
ERROR_LOG = GraphQLErrorLog(log)

MAX_QUERY_BYTES = 256 * 1024
SCHEMA = build_schema()

router = APIRouter()


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """GraphQL's error shape, with the engine's code; no stack, no internals."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, PyflowError):
        formatted["message"] = wire_message(original)
        formatted["extensions"] = {"code": original.code, "numericCode": original.numeric_code}
    elif original is not None and not isinstance(original, (ValueError, GraphQLError)):
        log.error("graphql resolver failed: %r", original)
        formatted["message"] = f"unexpected server error ({type(original).__name__})"
    return formatted


async def _payload(request: Request) -> dict[str, Any]:
    body = await read_bounded(request, MAX_QUERY_BYTES)  # never read in full when over
    try:
        data = json.loads(body or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        raise ValidationError(
            'the body must be JSON: {"query": "...", "variables": {...}, "operationName": "..."}'
        )
    return data


@router.post(
    "/client/v4/graphql",
    summary="GraphQL Analytics API (workflowsAdaptiveGroups...)",
    responses={
        200: {"description": "GraphQL's own answer: {data, errors}"},
        **error_responses(),
    },
)
async def graphql_endpoint(request: Request) -> JSONResponse:
    token = authenticate_request(request)
    data = await _payload(request)
    context = Context(token=token, transport=request.app.state.client.transport)
    _, result = await graphql(
        SCHEMA,
        data,
        context_value=context,
        error_formatter=format_error,
        require_query=True,
        debug=False,
        logger=ERROR_LOG,
    )
    # No data at all: the query could not run (syntax, schema, variables).
    ran = result.get("data") is not None
    return JSONResponse(result, status_code=200 if ran else 400)
