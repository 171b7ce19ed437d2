"""Durations: the one parser for the whole code base.

A duration is a number of seconds (int or float, as in Cloudflare's Python
SDK), a :class:`datetime.timedelta`, or a string such as ``"10 seconds"``,
``"5 minutes"``, ``"1 hour"``, ``"2 days"``, ``"1 week"``, ``"1 month"`` (30
days) or ``"1 year"`` (365 days). Units may be singular or plural; ``ms`` and
``milliseconds`` are accepted too.
"""

from __future__ import annotations

import datetime as _dt
import math
import re

from .errors import InvalidDuration

Duration = int | float | str | _dt.timedelta

_UNIT_SECONDS = {
    "millisecond": 0.001,
    "ms": 0.001,
    "second": 1.0,
    "sec": 1.0,
    "s": 1.0,
    "minute": 60.0,
    "min": 60.0,
    "m": 60.0,
    "hour": 3600.0,
    "h": 3600.0,
    "day": 86400.0,
    "d": 86400.0,
    "week": 7 * 86400.0,
    "w": 7 * 86400.0,
    "month": 30 * 86400.0,
    "year": 365 * 86400.0,
    "y": 365 * 86400.0,
}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]+)\s*$")


def _unit(word: str) -> float | None:
    word = word.lower()
    if word in _UNIT_SECONDS:
        return _UNIT_SECONDS[word]
    if word.endswith("s") and word[:-1] in _UNIT_SECONDS:
        return _UNIT_SECONDS[word[:-1]]
    return None


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Seconds in ``value``; raises :class:`InvalidDuration` with a clear message.

    >>> parse_duration("2 minutes"), parse_duration(1.5)
    (120.0, 1.5)
    """
    if isinstance(value, bool):
        raise InvalidDuration(
            f"{what} {value!r} is invalid: use seconds or a string like '5 minutes'"
        )
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            match = _PATTERN.match(text)
            unit = _unit(match.group(2)) if match else None
            if match is None or unit is None:
                raise InvalidDuration(
                    f"{what} {value!r} is invalid: use seconds or '<number> <unit>' with unit "
                    "second, minute, hour, day, week, month or year"
                ) from None
            seconds = float(match.group(1)) * unit
    else:
        raise InvalidDuration(
            f"{what} of type {type(value).__name__} is invalid: use seconds, a string like "
            "'5 minutes' or a datetime.timedelta"
        )
    if math.isnan(seconds) or seconds < 0:
        raise InvalidDuration(f"{what} {value!r} is invalid: it must be zero or more")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form, for messages and tables: ``'90 seconds'``, ``'2 days'``."""
    if math.isinf(seconds):
        return "forever"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if seconds == int(seconds):
        n = int(seconds)
        return f"{n} second{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


def to_epoch_seconds(value: _dt.datetime | int | float, *, what: str = "timestamp") -> float:
    """Epoch seconds of a datetime (naive means local time) or a number of epoch seconds."""
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDuration(
            f"{what} {value!r} is invalid: use a datetime.datetime or seconds since the epoch"
        )
    if math.isnan(value):
        raise InvalidDuration(f"{what} is NaN")
    return float(value)
