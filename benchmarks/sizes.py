"""How big each workload is in each mode (``--quick``, default, ``--full``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sizes:
    mode: str
    steps: int = 200  # per-step overhead: sequential no-op steps in one instance
    steps_runs: int = 3  # per-step overhead: instances run, ours and DBOS's alike (median)
    # Per-step overhead: each instance (each DBOS workflow alike) waits this long
    # before its timed loop, so that what its start set going on both sides (for
    # us: the actor's activation, the worker stock's refill, the previous run's
    # actor exiting and journal folded) is over before the steps are timed.
    steps_pause: float = 2.0
    start_runs: int = 30  # start latency: sequential create -> complete runs
    throughput_instances: int = 1000  # per concurrency limit K
    throughput_steps: int = 3
    throughput_k: tuple[int, ...] = (2, 8, 32)
    creates: int = 1000  # creates alone (create_batch, 100 per call)
    concurrency_k: int = 4  # concurrency harness: running slots
    concurrency_each: int = 4  # instances of each kind (cpu, sleep, wait) before the backlog
    concurrency_backlog: int = 8  # new CPU instances queued behind them
    hibernating: int = 10_000  # hibernation scale
    event_runs: int = 20  # event latency: runs per (live | hibernated) x (handle | HTTP)
    baseline_runs: int = 30  # bare Ray actor create+call+kill
    cluster_instances: int = 60  # throughput on 3 nodes vs 1
    activation_runs: int = 10  # activation phases, CPU-s per activation
    admission_runs: int = 20  # queued -> admitted -> first step, one slot
    alarm_counts: tuple[int, ...] = (30, 300, 1000)  # simultaneous alarms
    # Instances/s the alarm is set from (time to put them all to sleep); 0: the
    # placement's measured start rate (dedicated: else Ray's baseline). A loaded
    # machine's baseline (2 s) set 1,000 alarms 51 minutes ahead.
    alarm_reach_per_second: int = 0
    history_instances: int = 2000  # finished instances folded into the history store, per size
    # Placements measured side by side (README "Placement: dedicated or shared").
    placements: tuple[str, ...] = ("dedicated", "shared")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


QUICK = Sizes(
    mode="quick",
    start_runs=8,
    throughput_instances=16,
    creates=500,
    concurrency_each=3,
    concurrency_backlog=6,
    hibernating=30,
    event_runs=4,
    baseline_runs=10,
    cluster_instances=12,
    activation_runs=5,
    admission_runs=8,
    alarm_counts=(30, 300),
    history_instances=500,
)
DEFAULT = Sizes(mode="default")
FULL = Sizes(mode="full", hibernating=100_000)

MODES = {"quick": QUICK, "default": DEFAULT, "full": FULL}

# The workloads pyflow_bench runs; run.py adds the DBOS peer and the cluster.
PYFLOW_WORKLOADS = (
    "baseline",
    "steps",
    "start",
    "events",
    "concurrency",
    "throughput",
    "hibernation",
    "creates",
    "activation",
    "admission",
    "alarms",
    "history",
)
