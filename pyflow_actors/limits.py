"""Every documented limit, validated in one place.

Defaults follow Cloudflare Workflows' limits; all of them can be changed in
``pyflow.toml`` (``[limits]``). Each validator raises an error from
:mod:`pyflow_actors.errors` whose message says what was wrong and what is
allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from .errors import (
    InvalidEventType,
    InvalidInstanceId,
    InvalidWorkflowName,
    PayloadTooLarge,
    ValidationError,
)

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9\-_]*$")
MIB = 1 << 20
DAY = 86400.0


@dataclass(frozen=True)
class Limits:
    max_id_length: int = 100
    max_event_type_length: int = 100
    max_workflow_name_length: int = 64
    max_step_name_length: int = 256
    max_steps: int = 1024
    max_step_output_bytes: int = MIB
    max_payload_bytes: int = MIB
    max_sleep_seconds: float = 365 * DAY
    min_event_timeout_seconds: float = 1.0
    max_event_timeout_seconds: float = 365 * DAY
    max_batch_size: int = 100

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Limits:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(
                f"unknown limit(s) {sorted(unknown)}: known limits are {sorted(known)}"
            )
        return cls(**data)


DEFAULT_LIMITS = Limits()


def _check_name(value: Any, what: str, max_len: int, error: type[ValidationError]) -> str:
    if not isinstance(value, str) or not value:
        raise error(f"{what} must be a non-empty string")
    if len(value) > max_len or not NAME_PATTERN.match(value):
        shown = value if len(value) <= 120 else value[:117] + "..."
        raise error(
            f"{what} {shown!r} is invalid: use letters, digits, '-' and '_', "
            f"not starting with '-' (max {max_len} characters)"
        )
    return value


def validate_instance_id(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    return _check_name(value, "instance id", limits.max_id_length, InvalidInstanceId)


def validate_event_type(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    return _check_name(value, "event type", limits.max_event_type_length, InvalidEventType)


def validate_workflow_name(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    return _check_name(value, "workflow name", limits.max_workflow_name_length, InvalidWorkflowName)


def validate_step_name(value: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("step name must be a non-empty string")
    if len(value) > limits.max_step_name_length:
        raise ValidationError(
            f"step name is {len(value)} characters long: the limit is {limits.max_step_name_length}"
        )
    return value


def encode_json(value: Any, what: str, max_bytes: int) -> str:
    """``value`` as compact JSON, within ``max_bytes``; a clear error otherwise."""
    from .serialization import dumps  # local: serialization imports errors only

    text = dumps(value, what=what)
    size = len(text.encode())
    if size > max_bytes:
        raise PayloadTooLarge(f"{what} is {size} bytes serialized: the limit is {max_bytes} bytes")
    return text


def validate_payload(value: Any, what: str = "params", limits: Limits = DEFAULT_LIMITS) -> str:
    return encode_json(value, what, limits.max_payload_bytes)


def validate_sleep_seconds(seconds: float, limits: Limits = DEFAULT_LIMITS) -> float:
    if seconds > limits.max_sleep_seconds:
        raise ValidationError(
            f"sleep of {seconds:g} seconds is too long: the limit is "
            f"{limits.max_sleep_seconds / DAY:g} days"
        )
    return seconds


def validate_event_timeout(seconds: float, limits: Limits = DEFAULT_LIMITS) -> float:
    if not (limits.min_event_timeout_seconds <= seconds <= limits.max_event_timeout_seconds):
        raise ValidationError(
            f"wait_for_event timeout of {seconds:g} seconds is invalid: it must be between "
            f"{limits.min_event_timeout_seconds:g} second(s) and "
            f"{limits.max_event_timeout_seconds / DAY:g} days"
        )
    return seconds


def validate_batch_size(n: int, limits: Limits = DEFAULT_LIMITS) -> int:
    if n > limits.max_batch_size:
        raise ValidationError(
            f"a batch of {n} instances is too large: at most {limits.max_batch_size} per batch"
        )
    return n


def validate_retry_limit(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValidationError(f"retries.limit {value!r} is invalid: use a whole number >= 0 or inf")
    if value < 0 or (not math.isinf(value) and value != int(value)):
        raise ValidationError(f"retries.limit {value!r} is invalid: use a whole number >= 0 or inf")
    return float(value)
