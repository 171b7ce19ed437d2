"""The workloads on pyflow-actors, in a Ray of their own (started and stopped here).

Run by ``python -m benchmarks``; every workload returns (and prints) one JSON
record. Timestamps come from the engine itself where it has them: the
registry's ``created_at`` / ``started_at`` (scheduled) / ``ended_at`` and the
journal's step start and end times.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import ray

from pyflow_actors.client.api import Client
from pyflow_actors.config import EngineConfig, TokenSpec, WorkflowSpec
from pyflow_actors.models import Placement
from pyflow_actors.runtime.local import LocalEngine, ray_levers, start_local

from . import history_bench, speed_bench
from .measure import disk_bytes, emit, log, summary, wait_until
from .sizes import Sizes
from .workflows import BENCH_WORKFLOWS, BLOCKER_WORKFLOW, Blocker

NAMESPACE = "pyflow-bench"
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
HIBERNATE_AFTER = 1.0  # seconds; short so that the hibernated cases do not idle long
TOKEN, ACCOUNT = "bench-token", "bench"
BATCH = 100  # create_batch's maximum
SHARED = "-shared"  # suffix of each bench workflow's shared-placement copy
SHARED_REACH_RATE = 10.0  # shared sleepers reaching their sleep per second, unmeasured


# The engine's worker_stock for a run (default: the engine's own default), e.g.
# PYFLOW_BENCH_WORKER_STOCK=0 python -m benchmarks --quick --only baseline,start,alarms
STOCK_VARIABLE = "PYFLOW_BENCH_WORKER_STOCK"
SETTLE_SECONDS = 2.0  # after the stock's first fill, before the first workload
# Lone creates (start latency, and the bare Ray baseline alike) are this far
# apart: each finds the machine idle of the one before (its actor let go, its
# journal folded, the worker stock refilled). Back to back, a create shares the
# CPU with the previous one's aftermath, a sustained rate, which ``throughput``
# measures; on a lone create ~0.6 CPU-s of worker start is off the critical
# path with the stock, on it without (docs/performance-notes.md, "Ray's levers").
LONE_GAP_SECONDS = 2.0


def placed(workflow: str, placement: str) -> str:
    """The bench workflow's copy for a placement ("dedicated" is the original)."""
    return workflow + SHARED if placement == Placement.SHARED else workflow


class PyflowBench:
    """One engine in a fresh local Ray, and the workloads run against it."""

    def __init__(self, sizes: Sizes, storage: Path, records: list[dict[str, Any]]) -> None:
        self.sizes, self.storage, self.records = sizes, storage, records
        self.engine: LocalEngine | None = None
        self.gateway: Any = None
        self.http: Client | None = None

    # -- engine and gateway ------------------------------------------------------

    def start(self) -> None:
        # As start_local does for a Ray it starts: the workers inherit PYTHONPATH
        # from the raylet. A job runtime_env sent every actor start through Ray's
        # runtime env agent and kept it off the prestarted idle workers, a cost
        # users of start_local do not pay (docs/performance-notes.md, Ray's levers).
        paths = (REPO_ROOT, os.environ.get("PYTHONPATH", ""))
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        ray.init(
            address="local",  # always a new Ray: never the tests' or a user's cluster
            namespace=NAMESPACE,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            **ray_levers(),  # as start_local starts its Ray (docs/performance-notes.md: Ray's levers)
        )
        specs = [WorkflowSpec.of(name, cls) for name, cls in BENCH_WORKFLOWS.items()]
        specs += [
            WorkflowSpec.of(placed(name, "shared"), cls, placement=Placement.SHARED)
            for name, cls in BENCH_WORKFLOWS.items()
        ]
        specs.append(WorkflowSpec.of(BLOCKER_WORKFLOW, Blocker, max_running=1))
        config = EngineConfig(
            storage=self.storage,
            max_running=8,
            hibernate_after=HIBERNATE_AFTER,
            namespace=NAMESPACE,
            workflows=tuple(specs),
        )
        if STOCK_VARIABLE in os.environ:  # compare the engine with and without the stock
            config = replace(config, worker_stock=int(os.environ[STOCK_VARIABLE]))
        log(f"pyflow: worker_stock = {config.worker_stock}")
        self.engine = start_local(config)
        self.client = self.engine.client
        self._settle(config.worker_stock)

    def _settle(self, stock: int, timeout: float = 30.0) -> None:
        """Let the worker stock make its first fill before the first workload: its
        workers' starts (~0.5 CPU-s each, once, at the engine's start) otherwise
        land on that workload (200 dedicated steps read 3.7-3.9 ms instead of 1.8).
        Every workload then measures the engine as it runs, not as it starts."""
        assert self.engine is not None
        deadline = time.monotonic() + timeout
        while stock and time.monotonic() < deadline:
            idle = self.engine.stats().get("worker_stock_idle") or 0  # type: ignore[union-attr]
            if idle >= stock:
                break
            time.sleep(0.2)
        time.sleep(SETTLE_SECONDS)  # the last worker's preloaded imports
        log(f"pyflow: settled ({stock} stocked workers asked for)")

    def configure(self, **changes: Any) -> None:
        assert self.engine is not None
        self.engine.config = replace(self.engine.config, **changes)
        ray.get(self.engine.supervisor.configure.remote(self.engine.config))

    def start_gateway(self) -> str:
        """The gateway (uvicorn in a thread of this process) on a free local port."""
        import socket

        import uvicorn

        from service import create_app

        assert self.engine is not None
        aclient = asyncio.run(self.engine.async_client())
        app = create_app(aclient, self.engine.config, tokens=(TokenSpec(TOKEN, (ACCOUNT,)),))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(
            uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 20, what="gateway start")
        self.gateway = (server, thread, sock)
        self.http = Client.connect(url=url, token=TOKEN, account=ACCOUNT)
        return url

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.gateway is not None:
            server, thread, sock = self.gateway
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
        if self.engine is not None:
            self.engine.client.close()
        if ray.is_initialized():
            ray.shutdown()

    def _emit(self, workload: str, **metrics: Any) -> dict[str, Any]:
        return emit({"suite": "pyflow", "workload": workload, **metrics}, self.records)

    def _wait_final(self, instance: Any, timeout: float = 120.0, poll: float = 0.01) -> Any:
        """Poll status tightly (the client's own wait() backs off up to 1 s)."""
        return wait_until(
            lambda: (lambda s: s if s.is_final else None)(instance.status()),
            timeout,
            poll,
            what=f"instance {instance.id} final",
        )

    def _actor_pid(self, workflow: str, instance_id: str) -> int | None:
        assert self.engine is not None
        pid: int | None = ray.get(self.engine.supervisor.actor_pid.remote(workflow, instance_id))
        return pid

    def _count(self, workflow: str, status: str) -> int:
        return self.client.workflow(workflow).info().instances.get(status, 0)

    # -- baseline: Ray's own floor ----------------------------------------------

    def baseline(self) -> dict[str, Any]:
        """A bare Ray actor: create, call once, kill; sequential, like our start path,
        ``LONE_GAP_SECONDS`` apart as our lone creates.

        In a Ray of its own with Ray's defaults, started and stopped before the
        engine's: none of the engine's levers (its worker stock, the workers'
        preloaded modules) serves these actors. Only the raylet's own
        prestarted idle workers (``num_cpus`` of them, at Ray's start) do, for
        the first actors, as for any user of Ray."""

        @ray.remote(num_cpus=0)
        class Bare:
            def ping(self) -> int:
                return os.getpid()

        assert not ray.is_initialized(), "the baseline runs before the engine's Ray"
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
        try:
            times = []
            for _ in range(self.sizes.baseline_runs):
                time.sleep(LONE_GAP_SECONDS)  # as start_latency's lone creates
                began = time.perf_counter()
                actor = Bare.options(name=f"bare-{uuid.uuid4().hex[:8]}").remote()
                ray.get(actor.ping.remote())
                ray.kill(actor)
                times.append(time.perf_counter() - began)
        finally:
            ray.shutdown()
        record = {
            "suite": "ray",
            "workload": "bare_actor",
            "seconds": summary(times),
            "note": "a Ray of its own, Ray's defaults, before the engine's Ray starts; "
            f"creates {LONE_GAP_SECONDS:g} s apart, as ours",
        }
        return emit(record, self.records)

    # -- per-step overhead --------------------------------------------------------

    def step_overhead(self, placement: str = "dedicated") -> dict[str, Any]:
        """``steps`` sequential no-op steps in one instance, ``steps_runs`` instances
        one after the other (as DBOS's side runs them): the median of their
        per-step figures. Each instance's loop starts ``steps_pause`` seconds after
        its run does (``Sizes.steps_pause``)."""
        steps, runs = self.sizes.steps, self.sizes.steps_runs
        workflow = placed("noop", placement)
        per_step: list[float] = []
        journal_bytes = None
        for _ in range(runs):
            params = {"steps": steps, "pause": self.sizes.steps_pause}
            instance = self.client.workflow(workflow).create(params=params)
            status = self._wait_final(instance, timeout=300)
            assert status.status.value == "complete", status
            per_step.append(float(status.output) * 1000 / steps)
            detail = instance.describe()
            assert len(detail.steps) == steps, len(detail.steps)
            journal = Path(self.storage) / "journals" / workflow / f"{instance.id}.duckdb"
            journal_bytes = journal.stat().st_size if journal.exists() else journal_bytes
        return self._emit(
            "step_overhead",
            placement=placement,
            steps=steps,
            runs=runs,
            pause_seconds=self.sizes.steps_pause,
            ms_per_step=statistics.median(per_step),
            ms_per_step_runs=[round(ms, 3) for ms in per_step],
            journal_bytes=journal_bytes,
        )

    # -- start latency ------------------------------------------------------------

    def start_latency(self, placement: str = "dedicated") -> dict[str, Any]:
        """create -> complete of a one-step workflow, split by the engine's timestamps;
        lone creates, ``LONE_GAP_SECONDS`` apart."""
        total, observed, queueing, actor_start, execution = [], [], [], [], []
        workflow = self.client.workflow(placed("noop", placement))
        for _ in range(self.sizes.start_runs):
            time.sleep(LONE_GAP_SECONDS)  # a lone create (see LONE_GAP_SECONDS)
            began = time.perf_counter()
            instance = workflow.create(params={"steps": 1})
            status = self._wait_final(instance)
            observed.append(time.perf_counter() - began)
            first_step = instance.describe().steps[0].start
            assert status.started_at is not None and status.ended_at is not None
            total.append(status.ended_at - status.created_at)
            queueing.append(status.started_at - status.created_at)
            actor_start.append(first_step - status.started_at)
            execution.append(status.ended_at - first_step)
        return self._emit(
            "start_latency",
            placement=placement,
            runs=self.sizes.start_runs,
            seconds=summary(total),
            client_observed_seconds=summary(observed),
            queueing_seconds=summary(queueing),
            actor_start_seconds=summary(actor_start),
            execution_seconds=summary(execution),
        )

    # -- throughput ---------------------------------------------------------------

    def throughput(self, k: int, placement: str = "dedicated") -> dict[str, Any]:
        n, steps = self.sizes.throughput_instances, self.sizes.throughput_steps
        self.configure(max_running=k)
        name = placed("noop", placement)
        done_before = self._count(name, "complete")
        workflow = self.client.workflow(name)
        began, began_epoch = time.perf_counter(), time.time()
        instances = []
        for chunk in range(0, n, BATCH):
            instances += workflow.create_batch(
                [{"params": {"steps": steps}} for _ in range(min(BATCH, n - chunk))]
            )
        created = time.perf_counter() - began
        wait_until(
            lambda: self._count(name, "complete") - done_before >= n,
            timeout=max(600.0, n * 5.0),
            interval=0.1,
            what=f"{n} instances complete",
        )
        polled = time.perf_counter() - began
        # The end is the supervisor's record of the last instance's completion (the
        # `ended_at` a status answers), not the poll that saw it: at 16 instances a
        # run lasts 0.2-0.4 s, and a 0.1 s poll moved the figure in steps of 20-30%.
        ended = [instance.status().ended_at for instance in instances]
        assert len(instances) == n and all(e is not None for e in ended), ended
        elapsed = max(e for e in ended if e is not None) - began_epoch
        return self._emit(
            "throughput",
            placement=placement,
            k=k,
            instances=n,
            steps=steps,
            seconds=elapsed,
            polled_seconds=polled,
            create_seconds=created,
            instances_per_second=n / elapsed,
        )

    def creates(self, transport: str) -> dict[str, Any]:
        """Creates alone: instances stay queued behind one blocker (per-workflow limit 1)."""
        client = self.client if transport == "ray" else self.http
        assert client is not None
        workflow = client.workflow(BLOCKER_WORKFLOW)
        n = self.sizes.creates
        began = time.perf_counter()
        for chunk in range(0, n, BATCH):
            workflow.create_batch(
                [{"params": {"seconds": 3600}} for _ in range(min(BATCH, n - chunk))]
            )
        elapsed = time.perf_counter() - began
        return self._emit(
            "creates",
            transport=transport,
            instances=n,
            batch=BATCH,
            seconds=elapsed,
            creates_per_second=n / elapsed,
        )

    # -- concurrency-limit harness -------------------------------------------------

    def concurrency(self) -> dict[str, Any]:
        """K slots; CPU steps, sleeps and event waits; a backlog of new instances.

        Checks: running never exceeds K; waiting instances hold no slot
        (running + waiting exceeds K); instances resuming from a wait start
        before the backlog queued ahead of their resume. Reports slot use.
        """
        k, each = self.sizes.concurrency_k, self.sizes.concurrency_each
        self.configure(max_running=k)
        workflow = self.client.workflow("mixed")
        cpu = 0.2
        samples: list[dict[str, Any]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                stats = self.engine.stats()  # type: ignore[union-attr]
                by_status = stats["by_status"]
                samples.append(
                    {
                        "t": time.time(),
                        "running": by_status.get("running", 0)
                        + by_status.get("waitingForPause", 0),
                        "live_actors": stats["live_actors"],
                        "waiting": by_status.get("waiting", 0),
                        "queued": by_status.get("queued", 0),
                    }
                )
                time.sleep(0.03)

        sampler = threading.Thread(target=sample, daemon=True)
        began = time.time()
        sampler.start()
        first = []
        for kind in ("wait", "sleep", "cpu"):
            first += workflow.create_batch(
                [
                    {
                        "id": f"{kind}-{i}-{uuid.uuid4().hex[:6]}",
                        "params": {"kind": kind, "cpu": cpu, "sleep": 4.0},
                    }
                    for i in range(each)
                ]
            )
        waiters = [i for i in first if i.id.startswith("wait-")]
        wait_until(
            lambda: all(w.status().status.value == "waiting" for w in waiters),
            timeout=120,
            interval=0.1,
            what="waiters hibernated",
        )
        backlog = workflow.create_batch(
            [
                {"id": f"new-{i}-{uuid.uuid4().hex[:6]}", "params": {"kind": "cpu", "cpu": cpu}}
                for i in range(self.sizes.concurrency_backlog)
            ]
        )
        wait_until(
            lambda: sum(s["running"] for s in samples[-1:]) >= k,
            timeout=60,
            interval=0.02,
            what="slots full",
        )
        backlog_ids = {b.id for b in backlog}

        def queued_now() -> set[str]:
            return {i.id for i in workflow.list(status="queued", per_page=100).instances}

        # The backlog each waiter's resume must go before: queued just before its event
        # is sent. Not the backlog queued before the first of them: the events go one by
        # one (0.5 s apart under load) while slots turn over, and an instance admitted
        # before a waiter's event was sent may rightly run first.
        queued_before: dict[str, set[str]] = {}
        for w in waiters:
            queued_before[w.id] = queued_now() & backlog_ids
            w.send_event("go", {})
        queued_at_event = set().union(*queued_before.values())
        for instance in first + backlog:
            status = self._wait_final(instance, timeout=300, poll=0.05)
            assert status.status.value == "complete", status
        stop.set()
        sampler.join()
        ended = time.time()

        # When each resumed waiter and each backlogged instance really ran, from
        # the times its own steps recorded (sampling the registry every few tens
        # of ms can miss a waiter whose last step takes 0.2 s on a busy machine).
        outputs = {i.id: i.status().output for i in first + backlog}
        inversions = sum(
            1
            for w in waiters
            for b in queued_before[w.id]
            if outputs[b]["first"] < outputs[w.id]["second"]
        )
        max_running = max(s["running"] for s in samples)
        max_live = max(s["live_actors"] for s in samples)
        max_running_plus_waiting = max(s["running"] + s["waiting"] for s in samples)
        busy = [s for s in samples if s["queued"] > 0]
        utilisation_backlogged = (
            sum(min(s["running"], k) for s in busy) / (k * len(busy)) if busy else None
        )
        utilisation_overall = sum(s["running"] for s in samples) / (k * len(samples))
        checks = {
            "running_never_above_k": max_running <= k and max_live <= k,
            "waiting_hold_no_slots": max_running_plus_waiting > k,
            "resumed_before_newly_queued": inversions == 0 and bool(queued_at_event),
        }
        record = self._emit(
            "concurrency",
            k=k,
            instances=len(first) + len(backlog),
            samples=len(samples),
            seconds=ended - began,
            max_running=max_running,
            max_live_actors=max_live,
            max_running_plus_waiting=max_running_plus_waiting,
            backlog_queued_at_resume=len(queued_at_event),
            priority_inversions=inversions,
            slot_utilisation_while_backlogged=utilisation_backlogged,
            slot_utilisation_overall=utilisation_overall,
            checks=checks,
            timeline=[
                [round(s["t"] - began, 3), s["running"], s["waiting"], s["queued"]] for s in samples
            ],
        )
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            # Said in the log and in the table's note (FAILED ...), not raised: a
            # failed check must not throw away the run's other workloads.
            log(f"concurrency harness FAILED {failed}: {record}")
        return record

    # -- hibernation scale -----------------------------------------------------------

    def hibernation(
        self, instances_per_second: float, placement: str = "dedicated"
    ) -> dict[str, Any]:
        """N instances asleep: no live actors, supervisor memory, disk, wake precision.

        Every instance must reach its sleep (one actor start each) before the
        alarm, which is set from the measured start rate with a margin.
        """
        n = self.sizes.hibernating
        self.configure(max_running=32)
        supervisor_pid = ray.get(self.engine.supervisor.pid.remote())  # type: ignore[union-attr]
        supervisor = psutil.Process(supervisor_pid)
        rss_before = supervisor.memory_info().rss
        registry = Path(self.storage) / "registry.duckdb"
        registry_before = disk_bytes(registry.parent) - disk_bytes(Path(self.storage) / "journals")
        reach_estimate = n / max(instances_per_second, 0.1)
        until = time.time() + 1.5 * reach_estimate + 10
        sleeper = placed("sleeper", placement)
        workflow = self.client.workflow(sleeper)
        began = time.perf_counter()
        created: list[Any] = []
        for chunk in range(0, n, BATCH):
            created += workflow.create_batch(
                [{"params": {"until": until}} for _ in range(min(BATCH, n - chunk))]
            )
        create_seconds = time.perf_counter() - began
        # Every instance should be asleep before the alarm; if the machine is
        # too slow for that, say how many were (and the wake-up figures mix in
        # instances that never hibernated).
        while self._count(sleeper, "waiting") < n and time.time() < until - 1:
            time.sleep(0.2)
        asleep = self._count(sleeper, "waiting")
        hibernated_seconds = time.perf_counter() - began
        stats = self.engine.stats()  # type: ignore[union-attr]
        rss_after = supervisor.memory_info().rss
        journals = disk_bytes(Path(self.storage) / "journals" / sleeper)
        registry_after = disk_bytes(registry.parent) - disk_bytes(Path(self.storage) / "journals")
        log(f"hibernation: {asleep} of {n} asleep, alarm in {until - time.time():.0f}s")
        wait_until(
            lambda: self._count(sleeper, "complete") >= n,
            timeout=until - time.time() + max(600.0, n * 5.0),
            interval=0.2,
            what=f"{n} instances woke and completed",
        )
        woke_all = time.time() - until
        lateness = [float(i.status().output) - until for i in created]
        return self._emit(
            "hibernation",
            placement=placement,
            instances=n,
            asleep_before_alarm=asleep,
            create_api_seconds=create_seconds,
            seconds_until_all_hibernated=hibernated_seconds if asleep >= n else None,
            live_actors_while_asleep=stats["live_actors"],
            supervisor_rss_bytes=rss_after,
            supervisor_rss_delta_bytes_per_instance=(rss_after - rss_before) / n,
            journal_disk_bytes_per_instance=journals / n,
            registry_disk_bytes_per_instance=(registry_after - registry_before) / n,
            wake_lateness_seconds=summary(lateness),
            all_complete_after_alarm_seconds=woke_all,
        )

    # -- event latency ---------------------------------------------------------------

    def event_latency(
        self, hibernated: bool, transport: str, placement: str = "dedicated"
    ) -> dict[str, Any]:
        """send_event -> the workflow's next step starts, for a live or hibernated wait."""
        client = self.client if transport == "ray" else self.http
        assert client is not None
        latencies = []
        waiter = placed("waiter", placement)
        for _ in range(self.sizes.event_runs):
            instance = self.client.workflow(waiter).create()
            if hibernated:
                # Waiting shows while the actor still listens; hibernated: no actor left.
                wait_until(
                    lambda i=instance: (
                        i.status().status.value == "waiting"
                        and self._actor_pid(waiter, i.id) is None
                    ),
                    timeout=60,
                    interval=0.02,
                    what="waiter hibernated",
                )
            else:
                wait_until(
                    lambda i=instance: any(s.type == "waitForEvent" for s in i.describe().steps),
                    timeout=60,
                    interval=0.01,
                    what="waiter waiting",
                )
            handle = client.workflow(waiter).get(instance.id)
            sent = time.time()
            handle.send_event("go", {})
            status = self._wait_final(instance, timeout=60)
            latencies.append(float(status.output) - sent)
        return self._emit(
            "event_latency",
            placement=placement,
            state="hibernated" if hibernated else "live",
            transport=transport,
            seconds=summary(latencies),
        )


def run(
    sizes: Sizes,
    storage: Path,
    records: list[dict[str, Any]],
    only: frozenset[str] | None = None,
) -> None:
    """The pyflow workloads (``only`` those named), ordered so that none loads a later one."""

    def want(name: str) -> bool:
        return only is None or name in only

    bench = PyflowBench(sizes, storage, records)
    bare = None
    if want("baseline"):  # first, in a Ray of its own (see PyflowBench.baseline)
        log("pyflow: bare Ray baseline")
        bare = bench.baseline()["seconds"]["p50"]
    bench.start()
    try:
        placements = sizes.placements
        if want("steps"):
            for placement in placements:
                log(f"pyflow: per-step overhead ({placement})")
                bench.step_overhead(placement)
        if want("start"):
            for placement in placements:
                log(f"pyflow: start latency ({placement})")
                bench.start_latency(placement)
        if want("events") or want("creates"):
            bench.start_gateway()
        if want("events"):
            for placement in placements:
                for hibernated in (False, True):
                    for transport in ("ray", "http"):
                        log(
                            f"pyflow: event latency hibernated={hibernated} via {transport} "
                            f"({placement})"
                        )
                        bench.event_latency(hibernated, transport, placement)
        if want("concurrency"):
            log("pyflow: concurrency harness")
            bench.concurrency()
        rates: dict[str, list[float]] = {p: [] for p in placements}
        if want("throughput"):
            for placement in placements:
                for k in sizes.throughput_k:
                    log(f"pyflow: throughput K={k} ({placement})")
                    rates[placement].append(bench.throughput(k, placement)["instances_per_second"])
        if want("hibernation"):
            for placement in placements:
                # The alarm is set from the measured start rate (or Ray's floor, or 1/s).
                measured = rates[placement]
                rate = max(measured) if measured else 1.0 / bare if bare else 1.0
                log(f"pyflow: hibernation scale ({sizes.hibernating}, {placement})")
                bench.hibernation(rate, placement)
        if want("activation"):
            log("pyflow: activation phases and cost")
            speed_bench.activation(bench, sizes.activation_runs)
        if want("admission"):
            log("pyflow: queued -> admitted -> first step")
            speed_bench.admission(bench, sizes.admission_runs)
        if want("alarms"):
            for placement in placements:
                # The alarm is set from the placement's measured start rate (dedicated:
                # else Ray's floor, or 1/s; shared: else SHARED_REACH_RATE).
                measured = rates.get(placement) or []
                floor = (1.0 / bare if bare else 1.0) if placement == "dedicated" else None
                rate = max(measured) if measured else floor or SHARED_REACH_RATE
                rate = sizes.alarm_reach_per_second or rate
                for n in sizes.alarm_counts:
                    log(f"pyflow: {n} simultaneous alarms ({placement})")
                    speed_bench.alarms(bench, n, rate, placement)
        if want("history"):  # no Ray: the storage alone
            history_bench.run(sizes.history_instances, storage, records)
        if want("creates"):
            for transport in ("ray", "http"):
                log(f"pyflow: creates via {transport}")
                bench.creates(transport)
    finally:
        bench.stop()
