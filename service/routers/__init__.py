"""The gateway's routes: workflows, and the instances of a workflow."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request

from pyflow_actors.client.transport import Transport
from pyflow_actors.config import EngineConfig
from pyflow_actors.errors import ValidationError
from service.schemas import RequestT, parse_request, read_json

ACCOUNT_PREFIX = "/client/v4/accounts/{account_id}/workflows"


def transport(request: Request) -> Transport:
    client_transport: Transport = request.app.state.client.transport
    return client_transport


def config(request: Request) -> EngineConfig:
    engine_config: EngineConfig = request.app.state.config
    return engine_config


def max_body_bytes(request: Request) -> int:
    """A batch of the largest params, with room for the JSON around them."""
    limits = config(request).limits
    return limits.max_payload_bytes * limits.max_batch_size + (1 << 20)


async def read_body(request: Request) -> Any:
    """The JSON body (``None`` when empty), refused over :func:`max_body_bytes`."""
    return await read_json(request, max_body_bytes(request))


async def read_request(request: Request, model: type[RequestT]) -> RequestT:
    """The JSON body validated as ``model`` (an empty body is ``{}``)."""
    body = await read_body(request)
    return parse_request(model, {} if body is None else body, "request body")


def whole(value: float, name: str) -> int:
    """A query number that must be whole (the cloudflare SDK types pages as floats)."""
    if not math.isfinite(value) or value != int(value):
        raise ValidationError(f"query parameter {name!r} must be a whole number, not {value:g}")
    return int(value)
