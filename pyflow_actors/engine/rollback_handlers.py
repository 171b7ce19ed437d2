"""A step's rollback handler (saga compensation): its shape, checked once, and its call.

``step.do(name, fn, rollback=undo, rollback_config={...})``, or on a decorated
step ``@charge.rollback(config={...})``, attaches a handler to the step. The
handler may be sync or async and takes, by name, any of:

* ``ctx``: the forward step's context (``{"step": {"name", "count"}, "attempt",
  "config"}``, the attempt that ended it);
* ``output``: the forward step's output (``None`` if it failed);
* ``error``: the error that made the instance fail (on a terminate with
  rollback, a ``Terminated`` error).

``rollback_config`` is the handler's own ``{"retries", "timeout"}`` (Cloudflare's
``rollbackConfig``: nothing else); without it the handler runs with the default
step config. :class:`~pyflow_actors.errors.NonRetryableError` in a handler
stops its retries at once. What runs the handlers, and when, is :mod:`.rollback`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRollback, InvalidStepConfig
from .step_config import StepConfig

HANDLER_PARAMETERS = ("ctx", "output", "error")
ROLLBACK_KEY_PREFIX = "rollback:"  # journal keys of handler runs (kind "rollback")


@dataclass(frozen=True)
class RollbackHandler:
    """A step's rollback handler and the retry/timeout policy it runs with."""

    fn: Callable[..., Any]
    config: StepConfig


@dataclass(frozen=True)
class Registered:
    """A call of a step with a handler, in this run: ``key`` is the step's cache key."""

    key: str
    name: str
    handler: RollbackHandler


def rollback_handler(
    step: str, fn: Any, config: Mapping[str, Any] | None, *, workflow: str = ""
) -> RollbackHandler:
    """``fn`` and ``config`` checked: a callable taking only ``ctx``, ``output`` and
    ``error`` (by name), and a config of ``retries`` and ``timeout``."""
    if not callable(fn):
        raise InvalidRollback(f"step {step!r}: rollback must be a function, got {fn!r}")
    _check_parameters(step, fn)
    if config is not None and not isinstance(config, Mapping):
        raise InvalidRollback(
            f"step {step!r}: rollback_config must be a dict with 'retries' and/or 'timeout', "
            f"got {config!r}"
        )
    try:
        parsed = StepConfig.parse(dict(config) if config is not None else None, workflow=workflow)
    except InvalidStepConfig as exc:
        raise InvalidRollback(f"step {step!r}: rollback_config is invalid: {exc.message}") from None
    return RollbackHandler(fn, parsed)


def _check_parameters(step: str, fn: Callable[..., Any]) -> None:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return
    for parameter in parameters:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.name in HANDLER_PARAMETERS or parameter.default is not inspect.Parameter.empty:
            continue
        raise InvalidRollback(
            f"step {step!r}: the rollback handler asks for {parameter.name!r}: it may take "
            f"{', '.join(HANDLER_PARAMETERS)} (by name)"
        )


def handler_call(fn: Callable[..., Any], offered: dict[str, Any]) -> Callable[[], Any]:
    """A function of no arguments calling the handler with what it names of ``offered``
    (a sync handler runs in a thread, as sync steps do)."""
    try:
        parameters = inspect.signature(fn).parameters
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        kwargs = offered if takes_all else {k: v for k, v in offered.items() if k in parameters}
    except (TypeError, ValueError):
        kwargs = {}

    async def call() -> Any:
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
        ):
            return await fn(**kwargs)
        return await asyncio.to_thread(fn, **kwargs)

    return call
