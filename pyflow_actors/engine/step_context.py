"""The step context (``ctx``) and retry delays computed by a function.

Cloudflare hands every ``step.do`` callback a context; its Python SDK injects it
into a step function that declares a parameter named ``ctx``:

.. code-block:: python

    @step.do("charge", config={"retries": {"limit": 3, "delay": backoff_for}})
    async def charge(ctx):
        log.info("%s #%d, attempt %d", ctx["step"]["name"], ctx["step"]["count"], ctx["attempt"])

``ctx`` is a dict ``{"step": {"name", "count"}, "attempt", "config"}``: the
step's name, which occurrence of that name this call is (1 for the first, the
``N`` of the ``name-N`` key), the attempt number (1, then 2 on the first
retry...) and the resolved config (defaults applied; ``retries.delay`` is left
out when it is a function).

``retries.delay`` may be a function: it is called after a failed attempt, when
another attempt will follow, with the arguments it names among ``attempt`` (the
attempt that failed), ``ctx`` (that attempt's context) and ``error`` (its
error), sync or async; it returns the delay (seconds, ``"30 seconds"`` or a
timedelta). It must be deterministic: it is called again when an instance
rehydrates during a retry wait. If it raises, takes longer than
:data:`DELAY_FUNCTION_TIMEOUT` or returns no valid duration, the step fails with
:class:`~pyflow_actors.errors.RetryDelayFailed`, without further retries.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Callable
from typing import Any, TypedDict

from ..durations import parse_duration
from ..errors import InvalidStepConfig, RetryDelayFailed, ValidationError

CONTEXT_PARAMETER = "ctx"
DELAY_PARAMETERS = ("attempt", "ctx", "error")
DELAY_FUNCTION_TIMEOUT = 5.0  # seconds, as Cloudflare's engine allows
DYNAMIC_DELAY = "[dynamic]"  # how a delay function shows in a serialized config


class StepIdentity(TypedDict):
    name: str
    count: int


class StepContext(TypedDict):
    """What a step function's ``ctx`` parameter receives."""

    step: StepIdentity
    attempt: int
    config: dict[str, Any]


def occurrence(name: str, key: str) -> int:
    """Which call of ``step.do(name)`` the cache key stands for: ``name`` 1, ``name-3`` 3."""
    suffix = key[len(name) + 1 :]
    return int(suffix) if key != name and suffix.isdigit() else 1


def step_context(name: str, key: str, attempt: int, config: dict[str, Any]) -> StepContext:
    """The context of one attempt; ``config`` is the step's resolved config (JSON form)."""
    resolved = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    retries = resolved.get("retries")
    if isinstance(retries, dict) and retries.get("delay") == DYNAMIC_DELAY:
        del retries["delay"]  # Cloudflare leaves a delay function out of ctx.config
    return {
        "step": {"name": name, "count": occurrence(name, key)},
        "attempt": attempt,
        "config": resolved,
    }


def step_arguments(
    fn: Callable[..., Any],
    dependencies: list[Any],
    context: StepContext | Callable[[], StepContext],
) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` for a step function: dependency results in order, and
    ``ctx`` where the function declares it (it does not count as a dependency).
    ``context`` may be a function making it, called only when ``fn`` declares it."""
    if not _may_declare_context(fn):
        return list(dependencies), {}
    parameters = _parameters(fn)
    if parameters is None or CONTEXT_PARAMETER not in parameters:
        return list(dependencies), {}
    ctx = context() if callable(context) else context
    ctx_parameter = parameters[CONTEXT_PARAMETER]
    if ctx_parameter.kind is inspect.Parameter.KEYWORD_ONLY:
        return list(dependencies), {CONTEXT_PARAMETER: ctx}
    positional = [
        p
        for p in parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    index = positional.index(ctx_parameter)
    args = list(dependencies)
    if index > len(args):
        return args, {CONTEXT_PARAMETER: ctx}
    args.insert(index, ctx)
    return args, {}


def check_delay_function(delay: Callable[..., Any]) -> None:
    """Refuse, when the step is defined, a delay function that asks for unknown arguments."""
    parameters = _parameters(delay)
    if parameters is None:
        return
    for parameter in parameters.values():
        variadic = parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )
        if variadic or parameter.name in DELAY_PARAMETERS:
            continue
        if parameter.default is inspect.Parameter.empty:
            raise InvalidStepConfig(
                f"retries.delay function asks for {parameter.name!r}: it may take "
                f"{', '.join(DELAY_PARAMETERS)} (by name)"
            )


async def call_delay_function(
    delay: Callable[..., Any], ctx: StepContext, error: BaseException
) -> float:
    """Seconds to wait before the next attempt, as the delay function says."""
    offered: dict[str, Any] = {"attempt": ctx["attempt"], "ctx": ctx, "error": error}
    parameters = _parameters(delay)
    if parameters is None or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    ):
        kwargs = offered
    else:
        kwargs = {name: value for name, value in offered.items() if name in parameters}
    try:
        value = delay(**kwargs)
        if inspect.isawaitable(value):
            value = await asyncio.wait_for(_awaited(value), timeout=DELAY_FUNCTION_TIMEOUT)
    except asyncio.TimeoutError:
        raise RetryDelayFailed(
            f"retries.delay function took longer than {DELAY_FUNCTION_TIMEOUT:g} seconds"
        ) from None
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        raise RetryDelayFailed(
            f"retries.delay function raised {type(exc).__name__}: {exc}"
        ) from None
    try:
        seconds = parse_duration(value, what="retries.delay result")
    except ValidationError as exc:
        raise RetryDelayFailed(exc.message) from None
    return seconds


async def _awaited(value: Any) -> Any:
    return await value


def _may_declare_context(fn: Callable[..., Any]) -> bool:
    """False when ``fn`` is a plain function none of whose parameters is named ``ctx``.

    Read from its code object: ``inspect.signature`` per attempt was ~0.05 ms, a
    fifth of the engine's Python per step. Anything else (a wrapped function,
    whose signature is its ``__wrapped__``'s, a partial, a method, a callable
    object) may: its signature decides."""
    if type(fn) is not types.FunctionType or "__wrapped__" in fn.__dict__:
        return True
    if "__signature__" in fn.__dict__:
        return True
    code = fn.__code__
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    return CONTEXT_PARAMETER in code.co_varnames[:count]


def _parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return None
