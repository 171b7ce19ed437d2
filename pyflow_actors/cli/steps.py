"""The steps table of ``pyflow instances describe``: one row per step, sleep,
event wait or termination, with its status, tries and output or error, and
the retry line of a step waiting for its next attempt.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from ..models import InstanceStatus
from .output import short, styled, took, when

# A step's status, shown in the instance statuses' words, by its ``success``.
STEP_STATUS = {
    True: InstanceStatus.COMPLETE,
    False: InstanceStatus.ERRORED,
    None: InstanceStatus.RUNNING,
}


def step_table(steps: list[dict[str, Any]], show_output: bool, limit: int) -> Table:
    """The steps, one row each; ``show_output``: with outputs, cut to ``limit`` characters."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)  # no vertical rules: 8 columns fit 80
    table.add_column("#", justify="right")
    table.add_column("Type", no_wrap=True)
    table.add_column("Name", overflow="fold", min_width=8)
    table.add_column("Start", no_wrap=True)
    table.add_column("Took", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Tries", justify="right")
    table.add_column("Output / error", overflow="fold", min_width=16)
    for n, s in enumerate(steps, 1):
        if s["type"] == "termination":
            table.add_row(
                str(n), "termination", "-", "-", "-", styled(InstanceStatus.TERMINATED), "", ""
            )
            continue
        retry = retry_text(s)
        if s["type"] in ("step", "rollback"):  # a rollback handler's run is shown as a step
            status = "retrying" if retry else STEP_STATUS[s.get("success")]
            attempts = str(len(s.get("attempts") or []))
        else:
            status = (
                STEP_STATUS[not s.get("error")] if s.get("finished") else InstanceStatus.WAITING
            )
            attempts = ""
        if s.get("error"):
            detail = f"{s['error']['name']}: {s['error']['message']}"
        elif retry:
            detail = retry
        elif show_output and s.get("output") is not None:
            detail = s["output"]
        elif s["type"] == "waitForEvent" and not s.get("finished"):
            detail = f"waiting for {s.get('event_type')!r} until {when(s.get('end'))}"
        elif s["type"] == "sleep" and not s.get("finished"):
            detail = f"until {when(s.get('end'))}"
        else:
            detail = ""
        table.add_row(
            str(n),
            s["type"],
            escape(s["name"]),
            when(s.get("start"), date=False),
            took(s.get("start"), s.get("end"))
            if s.get("finished", status != InstanceStatus.RUNNING)
            else "-",
            styled(status),
            attempts,
            short(detail, limit),
        )
    return table


def retry_text(step: dict[str, Any]) -> str:
    """For a step waiting to retry: its last attempt's error and when the next is due."""
    due = step.get("next_attempt")
    failed = [a for a in step.get("attempts") or [] if a.get("error")]
    if step.get("type") not in ("step", "rollback") or not due or not failed:
        return ""
    error = failed[-1]["error"]
    return (
        f"attempt {len(step['attempts'])} failed: {error['name']}: {error['message']}; "
        f"next attempt at {when(due, date=False)}"
    )
