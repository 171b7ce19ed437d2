"""The speed workloads of pyflow-actors: what one activation costs, and whether
activation ahead of need puts queued instances and alarms on time.

* ``activation``: the phases of an instance activation measured apart (a Ray
  worker process up, the engine imported, the workflow class loaded, a new
  journal opened, an existing one replayed, one step run), the CPU-seconds one
  activation costs the whole Ray process tree, and an instance actor's own
  memory (USS and PSS) while it runs and while it waits;
* ``admission``: a queued instance admitted into a running slot -> its first
  step starts (the slot's previous holder, of a workflow capped at one
  running, held it a few seconds and just finished);
* ``alarms``: N instances asleep until the same moment: how late each wakes
  (per placement: shared ones are pre-activated in their hosts before it).

Each takes the running :class:`benchmarks.pyflow_bench.PyflowBench`.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import ray

from . import wake_cpu
from .measure import log, summary, wait_until
from .workflows import BLOCKER_WORKFLOW

if TYPE_CHECKING:
    from .pyflow_bench import PyflowBench

BATCH = 100
ADMISSION_HOLD = 3.0  # seconds each admitted instance holds its slot


@ray.remote(num_cpus=0)
class ActivationProbe:
    """A bare Ray actor that runs the steps of an activation one by one and times them."""

    def __init__(self) -> None:
        self.up_at = time.time()

    def up(self) -> float:
        return self.up_at

    def phases(self, storage: str, replay_steps: int) -> dict[str, float]:
        began = time.perf_counter()
        from pyflow_actors.runtime import runner  # noqa: F401 - the engine and the journal

        imported = time.perf_counter()
        from benchmarks.workflows import NoopSteps  # the workflow class

        loaded = time.perf_counter()
        import asyncio
        import datetime

        from pyflow_actors.engine import Execution
        from pyflow_actors.entrypoint import WorkflowEvent
        from pyflow_actors.storage.journal import DuckJournal

        def run(path: Path, steps: int) -> None:
            journal = DuckJournal(path)
            try:
                now = datetime.datetime.now(datetime.timezone.utc)
                event = WorkflowEvent({"steps": steps}, now, "probe", "noop")
                asyncio.run(Execution(NoopSteps(None), event, journal, hibernate_after=60).run())
            finally:
                journal.close()

        root = Path(storage)
        old = root / f"probe-{uuid.uuid4().hex}.duckdb"
        run(old, replay_steps)  # a journal to replay, written beforehand
        t0 = time.perf_counter()
        fresh = DuckJournal(root / f"probe-{uuid.uuid4().hex}.duckdb")
        fresh.close()
        opened = time.perf_counter()
        run(old, replay_steps)  # every step replayed, none run
        replayed = time.perf_counter()
        run(root / f"probe-{uuid.uuid4().hex}.duckdb", 1)  # open + one step run
        first_step = time.perf_counter() - replayed - (opened - t0)
        return {
            "import_engine": imported - began,
            "load_workflow_class": loaded - imported,
            "open_new_journal": opened - t0,
            f"replay_{replay_steps}_steps": replayed - opened,
            "first_step": max(first_step, 0.0),
        }


def _tree_cpu_seconds() -> float:
    """CPU-s used by this process's descendants, reaped ones included (Ray's workers
    are children of the raylet, which reaps them)."""
    total = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            t = process.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _memory(pid: int) -> dict[str, float]:
    info = psutil.Process(pid).memory_full_info()
    return {
        "uss_bytes": info.uss,
        "pss_bytes": getattr(info, "pss", info.uss),
        "rss_bytes": info.rss,
    }


def activation(bench: PyflowBench, runs: int) -> dict[str, Any]:
    engine = bench.engine
    assert engine is not None
    probes = []
    for _ in range(runs):
        began = time.time()
        probe = ActivationProbe.remote()
        up_at = ray.get(probe.up.remote())
        phases = ray.get(probe.phases.remote(str(bench.storage), 20))
        phases["worker_process_up"] = up_at - began
        ray.kill(probe)
        probes.append(phases)
    # Each activation below starts its actor cold. The budget is restored after:
    # ``configure`` replaces ``engine.config``, so it must be read before (a
    # restore from ``engine.config`` once left the pool at 0 for the admission
    # and alarms workloads after this one, and every alarm started cold).
    warm_actors = engine.config.warm_actors
    bench.configure(warm_actors=0)
    workflow = bench.client.workflow("noop")
    cpu_before = _tree_cpu_seconds()
    for _ in range(runs):
        bench._wait_final(workflow.create(params={"steps": 1}))
    cpu_per_activation = (_tree_cpu_seconds() - cpu_before) / runs
    probe = bench.client.workflow("cpu")
    own_cpu = [float(bench._wait_final(probe.create()).output) for _ in range(runs)]
    waiter = bench.client.workflow("waiter").create()
    wait_until(lambda: waiter.status().status.value == "waiting" or None, 60, 0.05, "waiter waits")
    pid = ray.get(engine.supervisor.actor_pid.remote("waiter", waiter.id))
    idle = _memory(pid) if pid else {}
    waiter.send_event("go", None)
    bench._wait_final(waiter)
    bench.configure(warm_actors=warm_actors)
    keys = probes[0].keys()
    return bench._emit(
        "activation",
        runs=runs,
        phases_seconds={k: summary(p[k] for p in probes) for k in keys},
        cpu_seconds_per_activation=cpu_per_activation,
        actor_process_cpu_seconds=summary(own_cpu),
        idle_actor_memory=idle,
        cpu_count=os.cpu_count(),
    )


def _warm_counts(bench: PyflowBench) -> dict[str, int]:
    stats = bench.engine.stats()  # type: ignore[union-attr]
    counters = ("warm_made", "warm_admitted", "warm_let_go", "shared_preactivated_woke")
    return {k: int(stats.get(k) or 0) for k in counters}


def _warm_since(bench: PyflowBench, before: dict[str, int]) -> dict[str, int]:
    """The warm pool's actors made, admitted and let go since ``before`` (a
    workload that shows none made ran with the pool off)."""
    return {k: v - before[k] for k, v in _warm_counts(bench).items()}


def admission(bench: PyflowBench, runs: int, hold: float = ADMISSION_HOLD) -> dict[str, Any]:
    """Instances of a workflow capped at one running: each is admitted when the one
    before it ends, after holding its slot ``hold`` seconds (longer than an
    activation, so the warm pool can have the next one's actor up: the case the
    pool is for; instances shorter than an activation are bound by the
    activation rate, which ``throughput`` measures)."""
    warm_before = _warm_counts(bench)
    workflow = bench.client.workflow(BLOCKER_WORKFLOW)
    instances = workflow.create_batch([{"params": {"seconds": hold}} for _ in range(runs)])
    for instance in instances:
        bench._wait_final(instance, timeout=300 + runs * hold)
    latencies = []
    for instance in instances[1:]:  # the first one found a free slot
        status = instance.status()
        first = instance.describe().steps[0].start
        latencies.append(first - status.started_at)
    return bench._emit(
        "admission",
        runs=runs,
        hold_seconds=hold,
        admitted_to_first_step_seconds=summary(latencies),
        warm=_warm_since(bench, warm_before),
    )


def alarms(
    bench: PyflowBench, n: int, instances_per_second: float, placement: str = "dedicated"
) -> dict[str, Any]:
    """N instances asleep until one moment; lateness of each wake-up. Shared ones are
    taken back by their hosts ahead of the alarm (``pre-activated`` in the record)."""
    from .pyflow_bench import placed  # here: that module imports this one

    bench.configure(max_running=32)
    reach = n / max(instances_per_second, 0.1)
    until = time.time() + 1.5 * reach + 15
    sleeper = placed("sleeper", placement)
    workflow = bench.client.workflow(sleeper)
    done_before = bench._count(sleeper, "complete")  # earlier workloads' sleepers
    warm_before = _warm_counts(bench)
    created: list[Any] = []
    for chunk in range(0, n, BATCH):
        created += workflow.create_batch(
            [{"params": {"until": until}} for _ in range(min(BATCH, n - chunk))]
        )
    while bench._count(sleeper, "waiting") < n and time.time() < until - 1:
        time.sleep(0.2)
    asleep = bench._count(sleeper, "waiting")
    log(f"alarms: {asleep} of {n} asleep ({placement}), alarm in {until - time.time():.0f}s")
    # Dedicated: the CPU of the wake in every process, and the floor it sets.
    sampling = wake_cpu.Sampler(bench.engine) if placement == "dedicated" else None
    with sampling or contextlib.nullcontext():
        wait_until(
            lambda: bench._count(sleeper, "complete") - done_before >= n,
            timeout=until - time.time() + max(600.0, n * 5.0),
            interval=0.2,
            what=f"{n} alarms fired",
        )
        ended = time.time()
    cost = {} if sampling is None else wake_cpu.figures(sampling, until, ended, n)
    lateness = [float(i.status().output) - until for i in created]
    warm = _warm_since(bench, warm_before)
    return bench._emit(
        "alarms",
        placement=placement,
        instances=n,
        asleep_before_alarm=asleep,
        alarm_at=until,
        wake_lateness_seconds=summary(lateness),
        warm_admitted=warm["warm_admitted"],
        warm_made=warm["warm_made"],
        warm_let_go=warm["warm_let_go"],
        preactivated_woke=warm["shared_preactivated_woke"],
        **cost,
    )
