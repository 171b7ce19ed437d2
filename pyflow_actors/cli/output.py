"""What the commands print: the two consoles, the one-line failure, JSON, and
times, durations and statuses as a person reads them.

The bottom of the CLI package: it knows nothing of the gateway or of the
commands. Rich markup is escaped wherever a value from the API is shown.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ..models import InstanceStatus

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """One line on stderr; square brackets in ``message`` are kept (no markup)."""
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(1)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (no rich: pipes get plain JSON)."""
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def when(value: str | None, *, date: bool = True, compact: bool = False) -> str:
    """An ISO time from the API as local time, to the second (``compact``: no year)."""
    if not value:
        return "-"
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    if compact:
        return moment.strftime("%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def took(start: str | None, end: str | None) -> str:
    """The time between two ISO times in ms, s, m or h (``-`` if either is missing)."""
    if not start or not end:
        return "-"
    seconds = (
        dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        - dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


STATUS_STYLE: dict[str, str] = {
    "retrying": "yellow",
    InstanceStatus.COMPLETE: "green",
    InstanceStatus.ERRORED: "red",
    InstanceStatus.TERMINATED: "red",
    InstanceStatus.RUNNING: "cyan",
    InstanceStatus.WAITING: "yellow",
    InstanceStatus.WAITING_FOR_PAUSE: "yellow",
    InstanceStatus.PAUSED: "magenta",
    InstanceStatus.QUEUED: "blue",
}


def styled(status: str) -> str:
    """A status in its colour (rich markup)."""
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def short(value: Any, limit: int) -> str:
    """A value cut to ``limit`` characters, escaped for rich (its brackets are kept)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return escape(text if len(text) <= limit else text[: max(0, limit - 1)] + "…")
