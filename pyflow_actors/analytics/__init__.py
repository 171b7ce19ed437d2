"""Analytics: the metrics events of Cloudflare's Metrics page and the queries on them.

- :mod:`.events` derives the events (``WORKFLOW_START``, ``STEP_SUCCESS``...)
  from what journals and the registry hold (pure);
- :mod:`.store` keeps them in ``<storage>/analytics.duckdb`` with an
  incremental, crash-safe ingest and a retention (31 days by default);
- :mod:`.query` is the query model clients send (no DuckDB), :mod:`.sql` its SQL;
- :mod:`.stats` is the engine stats snapshot that ``/metrics`` renders.

This package's top level imports no DuckDB, so that clients and the gateway
can use the query model; import the store as ``pyflow_actors.analytics.store``.
No web code lives here.
"""

from __future__ import annotations

from .events import EventType, InstanceFacts, MetricEvent, derive_events
from .query import AnalyticsQuery, AnalyticsResult, Condition, Order
from .stats import EngineStats, HistogramSnapshot, StepSummary

__all__ = [
    "AnalyticsQuery",
    "AnalyticsResult",
    "Condition",
    "EngineStats",
    "EventType",
    "HistogramSnapshot",
    "InstanceFacts",
    "MetricEvent",
    "Order",
    "StepSummary",
    "derive_events",
]
