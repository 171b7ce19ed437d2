"""One attempt of a step's code: called with its arguments, under its timeout, its output
checked, its end journaled.

The step function may be sync (run in a thread) or async, and may return an
awaitable (``lambda: coroutine``), awaited until it is a value. Its output must
be JSON within the size limit: workflow code then gets the value decoded back
from the JSON the journal records, so a first run and a replay see the same.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .. import instance_logs, serialization
from ..durations import format_duration
from ..errors import PyflowError, StepOutputError, StepTimeout
from ..limits import Limits, encode_json
from .clock import Clock, wait_for
from .records import AttemptRecord, Journal, StepRecord, StepState
from .step_context import StepContext, step_arguments


async def run_attempt(
    fn: Callable[..., Any],
    name: str,
    dependencies: list[Any],
    timeout: float,
    ctx: Callable[[], StepContext],
    time: Clock,
) -> Any:
    """Call step ``name``'s function once; :class:`StepTimeout` after ``timeout`` seconds.
    ``ctx`` makes the attempt's context, if the function declares one."""
    args, kwargs = step_arguments(fn, dependencies, ctx)
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    ):
        work: Awaitable[Any] = fn(*args, **kwargs)
    else:
        work = asyncio.to_thread(fn, *args, **kwargs)
    try:
        value = await wait_for(time, _resolve(work), timeout)
    except asyncio.TimeoutError:
        raise StepTimeout(
            f"step {name!r} attempt ran longer than its timeout of {format_duration(timeout)}"
        ) from None
    return value


def encode_output(key: str, value: Any, limits: Limits) -> tuple[Any, str]:
    """``(value as workflow code sees it, JSON text to journal)``; :class:`StepOutputError`
    when the output is not JSON or too large."""
    try:
        text = encode_json(value, f"output of step {key!r}", limits.max_step_output_bytes)
    except PyflowError as exc:
        raise StepOutputError(exc.message) from None
    if inexact := serialization.inexact_types(value):
        instance_logs.warn_once(key, serialization.inexact_warning(key, inexact))
    return serialization.loads(text), text


async def _resolve(value: Any) -> Any:
    """Await until the value is no longer awaitable (lambda: coroutine works)."""
    while inspect.isawaitable(value):
        value = await value
    return value


def end_attempt(
    journal: Journal,
    record: StepRecord,
    attempt: AttemptRecord,
    now: float,
    error: tuple[str, str] | None,
    *,
    finish: StepState | None = None,
    output: str | None = None,
) -> None:
    """Journal the end of ``attempt`` (and with ``finish`` of its step, in one
    commit), then mirror it in the records the run holds."""
    journal.end_attempt(record.key, attempt.n, now, error, finish=finish, output=output)
    attempt.ended_at = now
    if error:
        attempt.error_name, attempt.error_message = error
    if finish:
        record.state, record.ended_at, record.output = finish, now, output
        if error:
            record.error_name, record.error_message = error
