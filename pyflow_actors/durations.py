"""Durations: the one parser for the whole code base.

A duration is a number, a :class:`datetime.timedelta`, or a string such as
``"10 seconds"``, ``"5 minutes"``, ``"1 hour"``, ``"2 days"``, ``"1 week"``,
``"1 month"`` (30 days) or ``"1 year"`` (365 days). Units may be singular or
plural; ``ms`` and ``milliseconds`` are accepted too.

What a bare number means follows Cloudflare: seconds where its Python API page
says so (``step.sleep``, ``step.sleep_until``, engine settings:
:func:`parse_duration`), milliseconds where the value becomes one of its
JavaScript options (a step ``config`` dict's ``delay`` and ``timeout``,
``wait_for_event``'s ``timeout``: :func:`parse_milliseconds`). A number that
looks meant in the other unit is logged once per workflow
(:func:`warn_unit_once`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from typing import Literal

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


NumberUnit = Literal["seconds", "milliseconds"]
_log = logging.getLogger("pyflow_actors.units")
_warned: set[tuple[str, str]] = set()


def parse_milliseconds(value: Duration, *, what: str = "duration") -> float:
    """Seconds in ``value``, where a bare number is milliseconds (Cloudflare's JS options).

    >>> parse_milliseconds(1500), parse_milliseconds("2 seconds")
    (1.5, 2.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_duration(value, what=what) / 1000.0
    return parse_duration(value, what=what)


def unit_mistake(value: object, numbers_are: NumberUnit) -> str | None:
    """What the number ``value`` probably meant, when it looks written in the other unit.

    Milliseconds under 1000 look like seconds (``"delay": 5`` is 5 ms); whole
    thousands of seconds look like milliseconds (``step.sleep("x", 5000)`` is
    83 minutes).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if numbers_are == "milliseconds" and 0 < value < 1000:
        return f"{value!r} is {value:g} milliseconds; for seconds write '{value:g} seconds'"
    if numbers_are == "seconds" and value >= 1000 and value % 1000 == 0:
        return (
            f"{value!r} is {format_duration(float(value))}; for milliseconds write "
            f"'{value / 1000:g} seconds'"
        )
    return None


def warn_unit_once(workflow: str, what: str, value: object, numbers_are: NumberUnit) -> None:
    """Log (once per workflow and setting, per process) a number that looks mistaken."""
    hint = unit_mistake(value, numbers_are)
    if hint is None or (workflow, what) in _warned:
        return
    _warned.add((workflow, what))
    _log.warning(
        "workflow %r: %s: numbers there are %s as on Cloudflare; %s",
        workflow,
        what,
        numbers_are,
        hint,
    )
