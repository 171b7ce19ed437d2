"""``GET /metrics``: the engine's state in Prometheus' text format.

Rendered per scrape from the supervisor's ``stats()`` (read through the
client transport, as :class:`~pyflow_actors.analytics.stats.EngineStats`); a
series the engine does not report is left out, and an engine that cannot be
reached gives ``pyflow_engine_up 0`` rather than an error. Labels are workflow
names, statuses, attempt outcomes and subscription names only: never params,
outputs, instance ids or tokens.

Auth: ``Authorization: Bearer <token>`` with any of the gateway's API tokens
(the series are engine-wide, not per account).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pyflow_actors.analytics.stats import EngineStats, HistogramSnapshot
from pyflow_actors.errors import PyflowError

from .auth import authenticate_request

log = logging.getLogger("pyflow.gateway.metrics")

router = APIRouter()

_GAUGES = (
    # (series, EngineStats field, help)
    ("pyflow_live_actors", "live_actors", "Instance actors alive now (Ray worker processes)."),
    ("pyflow_max_running", "max_running", "The concurrency limit: running instances at most."),
    ("pyflow_running_slots", "running_slots",
     "Concurrency slots taken (what max_running bounds): running instances and those "
     "waiting in their process; not those held by a host until their alarm."),
    ("pyflow_instances_queued", "ready", "Instances waiting for a running slot."),
    ("pyflow_instances_hibernated", "hibernated", "Waiting instances with no process (on disk)."),
    ("pyflow_alarms", "alarms", "Armed alarms (sleeps, retry delays, wait timeouts)."),
    ("pyflow_supervisor_loop_lag_seconds", "loop_lag_seconds",
     "How late the supervisor's event loop ran its last probe."),
    ("pyflow_warm_actors", "warm_actors",
     "Instance actors started ahead of need (an alarm or a queue head), not yet admitted."),
    ("pyflow_worker_stock_idle", "worker_stock_idle",
     "Idle Ray workers the worker stock holds prestarted (at its last look)."),
)  # fmt: skip
_COUNTERS = (
    # (series without _total, EngineStats field, help)
    ("pyflow_activations", "activations_total",
     "Instance actors started (new runs and rehydrations)."),
    ("pyflow_storage_errors", "storage_errors_total",
     "Writes the storage refused (full, read-only, I/O)."),
    ("pyflow_warm_actors_made", "warm_made", "Instance actors started ahead of need."),
    ("pyflow_warm_actors_admitted", "warm_admitted",
     "Warm actors that ran their instance (an activation saved)."),
    ("pyflow_warm_actors_let_go", "warm_let_go",
     "Warm actors let go unused (not admitted in time, or over the memory budget)."),
    ("pyflow_worker_stock_prestarted", "worker_stock_prestarted",
     "Idle Ray workers the worker stock asked the raylets to prestart."),
    ("pyflow_worker_stock_taken", "worker_stock_taken",
     "Stocked idle workers taken by an actor start (or reaped past their keep-alive)."),
    ("pyflow_worker_stock_looks", "worker_stock_looks",
     "Times the worker stock asked the raylets for their idle workers (GetNodeStats)."),
    ("pyflow_history_folded", "history_folded_total",
     "Finished instances folded into the history store (journal file removed)."),
    ("pyflow_history_fold_seconds", "history_fold_seconds",
     "Time spent folding finished instances (in a thread, off the supervisor's loop)."),
)  # fmt: skip


def _histogram(
    name: str, help_text: str, snapshot: HistogramSnapshot, labels: dict[str, str]
) -> Metric:
    family = HistogramMetricFamily(name, help_text, labels=list(labels))
    buckets = [(repr(float(le)), count) for le, count in snapshot.buckets]
    buckets.append(("+Inf", snapshot.count))
    family.add_metric(list(labels.values()), buckets, snapshot.sum)
    return family


class StatsCollector(Collector):
    """The families of one stats snapshot (built per scrape)."""

    def __init__(self, stats: EngineStats | None) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("pyflow_engine_up", "1 if the engine answered this scrape.")
        up.add_metric([], 0 if self.stats is None else 1)
        yield up
        if self.stats is not None:
            yield from self._engine(self.stats)

    def _engine(self, s: EngineStats) -> Iterator[Metric]:
        for name, field, help_text in _GAUGES:
            value = getattr(s, field)
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)
        if s.by_status is not None:
            running = GaugeMetricFamily(
                "pyflow_instances_running", "Instances whose status is running now."
            )
            running.add_metric([], s.by_status.get("running", 0))
            yield running
            family = GaugeMetricFamily(
                "pyflow_instances_by_status", "Instances per status (all workflows).",
                labels=["status"],
            )  # fmt: skip
            for status, n in sorted(s.by_status.items()):
                family.add_metric([status], n)
            yield family
        if s.by_workflow_status is not None:
            family = GaugeMetricFamily(
                "pyflow_instances",
                "Instances per workflow and status.",
                labels=["workflow", "status"],
            )
            for workflow, statuses in sorted(s.by_workflow_status.items()):
                for status, n in sorted(statuses.items()):
                    family.add_metric([workflow, status], n)
            yield family
        yield from self._counters(s)
        yield from self._steps(s)
        yield from self._subscriptions(s)

    def _counters(self, s: EngineStats) -> Iterator[Metric]:
        for name, field, help_text in _COUNTERS:
            value = getattr(s, field)
            if value is not None:
                yield CounterMetricFamily(name, help_text, value=value)
        if s.activation_seconds is not None:
            yield _histogram(
                "pyflow_activation_seconds", "From asking for an instance actor to its first step.",
                s.activation_seconds, {},
            )  # fmt: skip
        if s.event_delivery_seconds is not None:
            yield _histogram(
                "pyflow_event_delivery_seconds",
                "From a status change to its subscription message's delivery (webhook 2xx).",
                s.event_delivery_seconds, {},
            )  # fmt: skip

    def _steps(self, s: EngineStats) -> Iterator[Metric]:
        if s.steps is None:
            return
        help_text = "Step wall time, first attempt to end (analytics window)."
        for workflow, snapshot in sorted(s.steps.durations.items()):
            yield _histogram(
                "pyflow_step_duration_seconds", help_text, snapshot, {"workflow": workflow}
            )
        attempts = CounterMetricFamily(
            "pyflow_step_attempts", "Step attempts by outcome (analytics window).",
            labels=["workflow", "outcome"],
        )  # fmt: skip
        for workflow, outcomes in sorted(s.steps.attempts.items()):
            for outcome, n in sorted(outcomes.items()):
                attempts.add_metric([workflow, outcome], n)
        yield attempts

    def _subscriptions(self, s: EngineStats) -> Iterator[Metric]:
        for name, values, help_text in (
            ("pyflow_subscription_backlog", s.subscription_backlog, "Messages not yet delivered."),
            ("pyflow_subscription_dead_letters", s.subscription_dead_letters,
             "Messages that kept failing, set aside."),
        ):  # fmt: skip
            if values is None:
                continue
            family = GaugeMetricFamily(name, help_text, labels=["subscription"])
            for subscription, n in sorted(values.items()):
                family.add_metric([subscription], n)
            yield family


def render(stats: EngineStats | None) -> bytes:
    """The exposition text for one snapshot (``None``: the engine did not answer)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    return generate_latest(registry)


async def _stats(transport: Any) -> EngineStats | None:
    ask = getattr(transport, "stats", None)
    if ask is None:
        return None
    try:
        raw: dict[str, Any] = await ask()
    except PyflowError as exc:
        log.warning("/metrics: the engine did not answer stats(): %s", exc.message)
        return None
    return EngineStats.model_validate(raw)


@router.get("/metrics", include_in_schema=False)  # Prometheus text, not a v4 envelope
async def metrics(request: Request) -> Response:
    authenticate_request(request)
    stats = await _stats(request.app.state.client.transport)
    return Response(render(stats), media_type=CONTENT_TYPE_LATEST)
