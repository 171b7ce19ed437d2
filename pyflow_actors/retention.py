"""Retention: how long a finished instance is kept before its journal, log and
registry row are purged.

Cloudflare's shapes: an instance's ``instance_retention`` (REST; ``retention``
in a binding's ``create``) and a workflow's ``default_retention``, each
``{"success_retention", "error_retention"}`` (``successRetention`` and
``errorRetention`` in JavaScript) given as milliseconds or a duration string
(``"3 days"``). ``success`` applies to instances that end complete or
terminated, ``error`` to errored ones. The instance's own setting wins over the
workflow's default, which wins over the engine's ``[engine] retention``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .durations import parse_milliseconds
from .errors import ValidationError

SHAPE = '{"success_retention": "3 days", "error_retention": 604800000} (both optional)'
_KEYS = {
    "success_retention": "success",
    "successRetention": "success",
    "error_retention": "error",
    "errorRetention": "error",
}


class Retention(BaseModel):
    """Seconds to keep a finished instance: ``success`` (complete or terminated) and
    ``error`` (errored); ``None`` falls back to the next default."""

    model_config = ConfigDict(frozen=True)

    success: float | None = None
    error: float | None = None

    @classmethod
    def parse(cls, value: Any, what: str = "instance_retention") -> Retention | None:
        """Cloudflare's ``{success_retention, error_retention}`` (ms or duration strings)."""
        if value is None or isinstance(value, Retention):
            return value
        if not isinstance(value, Mapping) or set(value) - set(_KEYS):
            raise ValidationError(f"{what} {value!r} is invalid: use {SHAPE}")
        seconds: dict[str, float] = {}
        for key, given in value.items():
            if isinstance(given, bool) or not isinstance(given, int | float | str):
                raise ValidationError(f"{what}.{key} {given!r} is invalid: use {SHAPE}")
            parsed = parse_milliseconds(given, what=f"{what}.{key}")
            if parsed <= 0:
                raise ValidationError(f"{what}.{key} must be more than zero, got {given!r}")
            seconds[_KEYS[key]] = parsed
        return cls(**seconds)

    def over(self, fallback: Retention | None) -> Retention:
        """This retention, with what it leaves unset taken from ``fallback``."""
        if fallback is None:
            return self
        return Retention(
            success=self.success if self.success is not None else fallback.success,
            error=self.error if self.error is not None else fallback.error,
        )

    def seconds_for(self, errored: bool) -> float | None:
        """How long an instance that ended errored (or not) is kept (``None``: not set here)."""
        return self.error if errored else self.success

    def to_wire(self) -> dict[str, int | None]:
        """``{"success_retention", "error_retention"}`` in milliseconds (as REST shows it)."""
        return {
            "success_retention": _ms(self.success),
            "error_retention": _ms(self.error),
        }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
