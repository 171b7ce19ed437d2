"""A step's retry and timeout policy: :class:`StepConfig` and the delay before a retry.

``step.do(name, config=...)`` takes Cloudflare's ``WorkflowStepConfig``:
``{"retries": {"limit", "delay", "backoff"}, "timeout"}``. :meth:`StepConfig.parse`
reads it once, when the step is defined (numbers in ``delay`` and ``timeout`` are
milliseconds, as in JavaScript; strings and ``timedelta`` as anywhere; ``delay``
may be a function of the attempt, see :mod:`.step_context`).
:func:`retry_delay` says how long to wait between a failed attempt and the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from .. import serialization
from ..durations import format_duration, parse_milliseconds, warn_unit_once
from ..errors import InvalidStepConfig, ValidationError, rebuild_error
from ..limits import validate_retry_limit
from .records import AttemptRecord
from .step_context import (
    DYNAMIC_DELAY,
    StepContext,
    call_delay_function,
    check_delay_function,
    step_context,
)

_JSON_INFINITY = 1.7976931348623157e308  # JSON has no Infinity; this stands for it


@dataclass(frozen=True)
class StepConfig:
    """A step's retry and timeout policy (Cloudflare's ``WorkflowStepConfig``)."""

    limit: float = 5
    delay: float = 10.0
    backoff: Literal["constant", "linear", "exponential"] = "exponential"
    timeout: float = 600.0
    # ``retries.delay`` given as a function (see .step_context); ``delay`` is then unused.
    delay_function: Callable[..., Any] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None, *, workflow: str = "") -> StepConfig:
        """Parse a ``config`` dict as Cloudflare does: it becomes the JS
        ``WorkflowStepConfig``, so numbers in ``delay`` and ``timeout`` are
        milliseconds (strings and ``timedelta`` as anywhere); ``delay`` may also
        be a function of the attempt (see ``step_context``)."""
        if config is None:
            return DEFAULT_CONFIG if cls is StepConfig else cls()
        if not isinstance(config, dict):
            raise InvalidStepConfig("step config must be a dict with 'retries' and/or 'timeout'")
        unknown = set(config) - {"retries", "timeout"}
        if unknown:
            raise InvalidStepConfig(
                f"unknown step config key(s) {sorted(unknown)}: use 'retries' and 'timeout'"
            )
        base = cls()
        retries = config.get("retries") or {}
        if not isinstance(retries, dict):
            raise InvalidStepConfig("retries must be a dict with 'limit', 'delay' and 'backoff'")
        unknown = set(retries) - {"limit", "delay", "backoff"}
        if unknown:
            raise InvalidStepConfig(
                f"unknown retries key(s) {sorted(unknown)}: use 'limit', 'delay' and 'backoff'"
            )
        delay_function = retries.get("delay") if callable(retries.get("delay")) else None
        if delay_function is not None:
            check_delay_function(delay_function)
        # A delay function's value is used as it is, unless a backoff is asked for.
        default_backoff = "constant" if delay_function is not None else base.backoff
        backoff = retries.get("backoff", default_backoff)
        if backoff not in ("constant", "linear", "exponential"):
            raise InvalidStepConfig(
                f"retries.backoff {backoff!r} is invalid: use 'constant', 'linear' or 'exponential'"
            )
        try:
            limit = validate_retry_limit(retries.get("limit", base.limit))
            delay = (
                0.0
                if delay_function is not None
                else parse_milliseconds(
                    retries.get("delay", f"{base.delay} s"), what="retries.delay"
                )
            )
            timeout = parse_milliseconds(config.get("timeout", f"{base.timeout} s"), what="timeout")
        except ValidationError as exc:
            raise InvalidStepConfig(str(exc)) from None
        if timeout <= 0:
            raise InvalidStepConfig("timeout must be more than 0 seconds")
        if delay_function is None:
            warn_unit_once(
                workflow, "step config retries.delay", retries.get("delay"), "milliseconds"
            )
        warn_unit_once(workflow, "step config timeout", config.get("timeout"), "milliseconds")
        return cls(limit, delay, backoff, timeout, delay_function)

    def delay_before_retry(self, n: int, base: float | None = None) -> float:
        """Delay before retry ``n`` (n >= 1): constant d, linear d*n, exponential d*2^(n-1).

        ``d`` is ``base`` when given (what a delay function returned), else ``delay``.
        """
        d = self.delay if base is None else base
        if self.backoff == "constant":
            return d
        if self.backoff == "linear":
            return d * n
        return d * 2.0 ** min(n - 1, 60)

    def to_json(self) -> dict[str, Any]:
        """The config as the journal records it and ``ctx["config"]`` shows it."""
        limit = _JSON_INFINITY if math.isinf(self.limit) else int(self.limit)
        return {
            "retries": {
                "limit": limit,
                "delay": DYNAMIC_DELAY if self.delay_function else format_duration(self.delay),
                "backoff": self.backoff,
            },
            "timeout": format_duration(self.timeout),
        }

    @cached_property
    def journal_text(self) -> str:
        """:meth:`to_json` as the journal's step row records it (made once per config:
        the default config, shared by every step without one, once per process)."""
        return serialization.dumps(self.to_json())

    def context_of(self, name: str, key: str, attempt: int) -> Callable[[], StepContext]:
        """What makes the ``ctx`` of an attempt, for a step function that declares it."""
        return lambda: step_context(name, key, attempt, self.to_json())


DEFAULT_CONFIG = StepConfig()  # immutable: ``step.do`` without a config shares it


async def retry_delay(
    config: StepConfig, name: str, key: str, failed: AttemptRecord, retry: int
) -> float:
    """Seconds between the failed attempt ``failed`` and retry number ``retry``."""
    if config.delay_function is None:
        return config.delay_before_retry(retry)
    ctx = step_context(name, key, failed.n, config.to_json())
    error = rebuild_error(failed.error_name or "Error", failed.error_message or "")
    base = await call_delay_function(config.delay_function, ctx, error)
    return config.delay_before_retry(retry, base)
