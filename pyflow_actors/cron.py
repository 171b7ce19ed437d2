"""Cron expressions of ``[triggers] crons``: validation and fire times, in UTC.

Cloudflare's Cron Triggers take standard 5-field expressions (minute, hour,
day of month, month, day of week; ``*/15``, ``1-5``, ``MON-FRI``...), at most
256 characters, evaluated in UTC. Parsing is croniter's; this module only
says which fires are due, so the one that runs them (the gateway today, the
supervisor's schedules once they are durable) decides nothing about syntax.
"""

from __future__ import annotations

import datetime as _dt

from croniter import croniter

from .errors import InvalidCron

MAX_CRON_CHARS = 256


def validate_cron(expression: str) -> str:
    """``expression`` stripped, or :class:`InvalidCron` saying what is allowed."""
    if not isinstance(expression, str):
        raise InvalidCron(f"cron {expression!r} is invalid: it must be a string")
    text = expression.strip()
    if len(text) > MAX_CRON_CHARS:
        raise InvalidCron(f"cron {text[:40]!r}... is longer than {MAX_CRON_CHARS} characters")
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise InvalidCron(
            f"cron {expression!r} is invalid: use 5 fields (minute hour day-of-month month "
            "day-of-week), for example '*/5 * * * *' or '0 9 * * MON-FRI'"
        )
    return text


def next_fire(expression: str, after: float) -> float:
    """The first fire time strictly after ``after`` (epoch seconds, UTC)."""
    start = _dt.datetime.fromtimestamp(after, tz=_dt.timezone.utc)
    return float(croniter(validate_cron(expression), start).get_next(float))


def due_fires(expression: str, last: float, now: float, *, limit: int = 1) -> list[float]:
    """Fire times in ``(last, now]``, oldest first, at most the ``limit`` newest.

    After downtime Cloudflare does not replay every missed minute; with the
    default ``limit=1`` only the latest missed fire runs. Walks back from
    ``now``, so a long downtime costs ``limit`` steps, not one per missed fire.
    """
    end = _dt.datetime.fromtimestamp(now, tz=_dt.timezone.utc)
    text = validate_cron(expression)
    fires: list[float] = []
    if next_fire(text, now - 1e-6) == now:  # croniter's get_prev excludes ``now`` itself
        fires.append(float(now))
    walk = croniter(text, end)
    while len(fires) < limit:
        at = float(walk.get_prev(float))
        if at <= last:
            break
        fires.append(at)
    return sorted(fires)
