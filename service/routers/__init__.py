"""The gateway's routes: workflows, and the instances of a workflow."""

from __future__ import annotations

import math

from fastapi import Request

from pyflow_actors.client.transport import Transport
from pyflow_actors.config import EngineConfig
from pyflow_actors.errors import ValidationError

ACCOUNT_PREFIX = "/client/v4/accounts/{account_id}/workflows"


def transport(request: Request) -> Transport:
    return request.app.state.client.transport


def config(request: Request) -> EngineConfig:
    return request.app.state.config


def max_body_bytes(request: Request) -> int:
    """A batch of the largest params, with room for the JSON around them."""
    limits = config(request).limits
    return limits.max_payload_bytes * limits.max_batch_size + (1 << 20)


def whole(value: float, name: str) -> int:
    """A query number that must be whole (the cloudflare SDK types pages as floats)."""
    if not math.isfinite(value) or value != int(value):
        raise ValidationError(f"query parameter {name!r} must be a whole number, not {value:g}")
    return int(value)
