"""The engine's stats snapshot: what ``GET /metrics`` renders.

The supervisor's ``stats()`` returns a plain dict; :class:`EngineStats` reads
it, every field optional, so that a gateway in front of an engine that does
not report a series yet simply leaves that series out. No storage code here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Upper bounds (seconds) of the step-duration and latency histograms.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class HistogramSnapshot(BaseModel):
    """A histogram: cumulative counts per upper bound (seconds), their sum and count."""

    model_config = ConfigDict(frozen=True)

    buckets: list[tuple[float, int]] = Field(default_factory=list)  # (le, cumulative count)
    sum: float = 0.0
    count: int = 0

    @classmethod
    def of(
        cls, values: list[float], bounds: tuple[float, ...] = DURATION_BUCKETS
    ) -> HistogramSnapshot:
        ordered = sorted(values)
        buckets, i = [], 0
        for bound in bounds:
            while i < len(ordered) and ordered[i] <= bound:
                i += 1
            buckets.append((float(bound), i))
        return cls(buckets=buckets, sum=float(sum(ordered)), count=len(ordered))


class StepSummary(BaseModel):
    """Step durations and attempt outcomes per workflow, from the analytics store."""

    durations: dict[str, HistogramSnapshot] = Field(default_factory=dict)
    attempts: dict[str, dict[str, int]] = Field(default_factory=dict)  # workflow -> outcome -> n


class EngineStats(BaseModel):
    """The supervisor's ``stats()``; a field it does not report stays ``None``."""

    model_config = ConfigDict(extra="ignore")

    live_actors: int | None = None
    max_running: int | None = None
    ready: int | None = None  # queued instances
    alarms: int | None = None
    hibernated: int | None = None
    running_slots: int | None = None  # slots max_running bounds (not held pre-activated ones)
    by_status: dict[str, int] | None = None  # by the status each instance shows
    by_workflow_status: dict[str, dict[str, int]] | None = None
    activations_total: int | None = None
    activation_seconds: HistogramSnapshot | None = None
    event_delivery_seconds: HistogramSnapshot | None = None  # WebhookSender.latency()
    loop_lag_seconds: float | None = None
    storage_errors_total: int | None = None
    warm_actors: int | None = None  # instance actors started ahead of need, not yet admitted
    warm_made: int | None = None
    warm_admitted: int | None = None
    warm_let_go: int | None = None
    worker_stock_idle: int | None = None  # idle Ray workers the stock holds (at its last look)
    worker_stock_prestarted: int | None = None
    worker_stock_taken: int | None = None
    worker_stock_looks: int | None = None
    history_folded_total: int | None = None  # finished instances folded into the history store
    history_fold_seconds: float | None = None
    subscription_backlog: dict[str, int] | None = None
    subscription_dead_letters: dict[str, int] | None = None
    steps: StepSummary | None = None
