"""Runs and failures over time, and wall-time percentiles, from the analytics store.

Read through the transport's ``analytics_query`` (the same path as
``POST /client/v4/graphql``); the gateway never opens the store. The last
:data:`HOURS` hours become one bar pair per hour (completed, failed), drawn
by the template as inline SVG, so nothing is computed in the browser.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pyflow_actors.analytics.events import EventType
from pyflow_actors.analytics.query import AnalyticsQuery, Condition, Order, render_time
from pyflow_actors.errors import PyflowError

from .timeline import span

HOURS = 24
_ENDED = [EventType.WORKFLOW_SUCCESS.value, EventType.WORKFLOW_FAILURE.value]


@dataclass(frozen=True)
class HourBar:
    label: str  # "09:00"
    runs: int
    failures: int


@dataclass
class RunsChart:
    """What the workflows page draws; ``available`` is false without an analytics store."""

    available: bool = True
    hours: list[HourBar] = field(default_factory=list)
    peak: int = 1
    wall_time: dict[str, dict[str, str]] = field(default_factory=dict)  # workflow -> p50/p90/p99


def _hour(now: dt.datetime, back: int) -> dt.datetime:
    return now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=back)


async def runs_chart(
    transport: Any, workflows: list[str], now: dt.datetime | None = None
) -> RunsChart:
    """Completed and failed runs per hour of ``workflows`` and their wall-time percentiles."""
    ask = getattr(transport, "analytics_query", None)
    if ask is None or not workflows:
        return RunsChart(available=ask is not None)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    since = render_time(_hour(now, HOURS - 1))
    scope = [
        Condition(field="workflowName", op="in", value=workflows),
        Condition(field="eventType", op="in", value=_ENDED),
    ]
    try:
        per_hour = await ask(
            AnalyticsQuery(
                dataset="workflowsAdaptiveGroups",
                dimensions=["datetimeHour", "eventType"],
                filters=[*scope, Condition(field="datetimeHour", op="geq", value=since)],
                order_by=[Order(field="datetimeHour")],
                limit=HOURS * 2,
            )
        )
        per_workflow = await ask(
            AnalyticsQuery(
                dataset="workflowsAdaptiveGroups",
                dimensions=["workflowName"],
                filters=scope,
                limit=len(workflows),
            )
        )
    except PyflowError:
        return RunsChart(available=False)
    return _chart(per_hour.rows, per_workflow.rows, now)


def _percentiles(row: dict[str, Any]) -> dict[str, str]:
    """p50/p90/p99 of a group's wall time (milliseconds in the store) for people."""
    shown = {}
    for quantile in ("p50", "p90", "p99"):
        millis = row.get(f"wallTime{quantile.upper()}")
        shown[quantile] = span(millis / 1000) if millis is not None else ""
    return shown


def _chart(
    per_hour: list[dict[str, Any]], per_workflow: list[dict[str, Any]], now: dt.datetime
) -> RunsChart:
    counts: dict[str, dict[str, int]] = {}
    for row in per_hour:
        counts.setdefault(str(row["datetimeHour"]), {})[str(row["eventType"])] = int(row["count"])
    hours = []
    for back in range(HOURS - 1, -1, -1):
        moment = _hour(now, back)
        seen = counts.get(render_time(moment), {})
        failures = seen.get(EventType.WORKFLOW_FAILURE.value, 0)
        runs = seen.get(EventType.WORKFLOW_SUCCESS.value, 0) + failures
        hours.append(HourBar(moment.strftime("%H:00"), runs, failures))
    wall = {str(row["workflowName"]): _percentiles(row) for row in per_workflow}
    return RunsChart(True, hours, max([1, *(h.runs for h in hours)]), wall)
