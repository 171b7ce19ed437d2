"""The peer: the same workloads on DBOS Transact, where they have an equivalent.

Run in a subprocess of its own (``python -m benchmarks.dbos_bench SIZES_JSON
DIR [ONLY_JSON]``) so that DBOS's threads and SQLite system database never share a
process with Ray. DBOS runs with its documented defaults and a SQLite system
database in DIR; nothing is tuned. Prints one JSON line per workload.

Equivalents: a DBOS workflow is our instance, a ``@DBOS.step`` our step,
``DBOS.sleep`` our ``step.sleep``, ``DBOS.recv``/``DBOS.send`` our
``wait_for_event``/``send_event``, and a queue with ``global_concurrency=K``
our concurrency limit. Throughput runs in two DBOS modes: its queue (the
equivalent of our concurrency limit) and async workflows awaited with K in
flight (DBOS's best throughput here: no queue polling, no thread per
workflow). DBOS has no HTTP API of its own and no hibernation (a
sleeping workflow is a sleeping thread), so those rows have no DBOS column.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from dbos import DBOS

from .measure import disk_bytes, emit, log, summary
from .sizes import Sizes

RECORDS: list[dict[str, Any]] = []


@DBOS.step()
def noop_step(i: int) -> int:
    return i


@DBOS.step()
def now_step() -> float:
    return time.time()


@DBOS.workflow()
def noop_steps(steps: int, pause: float = 0.0) -> float:
    time.sleep(pause)  # as our NoopSteps: see Sizes.steps_pause
    began = time.perf_counter()
    for i in range(steps):
        noop_step(i)
    return time.perf_counter() - began


@DBOS.step()
async def noop_step_async(i: int) -> int:
    return i


@DBOS.workflow()
async def noop_steps_async(steps: int) -> float:
    began = time.perf_counter()
    for i in range(steps):
        await noop_step_async(i)
    return time.perf_counter() - began


@DBOS.workflow()
def sleeper(until: float) -> float:
    noop_step(0)
    DBOS.sleep(max(0.0, until - time.time()))
    return now_step()


@DBOS.workflow()
def waiter() -> float:
    noop_step(0)
    DBOS.recv("go", timeout_seconds=3600)
    return now_step()


@DBOS.workflow()
def blocker(seconds: float) -> None:
    DBOS.sleep(seconds)


def _emit(workload: str, **metrics: Any) -> dict[str, Any]:
    return emit({"suite": "dbos", "workload": workload, **metrics}, RECORDS)


def step_overhead(sizes: Sizes) -> None:
    """As ours: ``steps_runs`` workflows one after the other, each pausing
    ``steps_pause`` seconds before its timed loop; the median per-step figure."""
    per_step = [
        DBOS.start_workflow(noop_steps, sizes.steps, sizes.steps_pause).get_result()
        * 1000
        / sizes.steps
        for _ in range(sizes.steps_runs)
    ]
    _emit(
        "step_overhead",
        steps=sizes.steps,
        runs=sizes.steps_runs,
        pause_seconds=sizes.steps_pause,
        ms_per_step=statistics.median(per_step),
        ms_per_step_runs=[round(ms, 3) for ms in per_step],
    )


def start_latency(sizes: Sizes) -> float:
    direct, queued = [], []
    queue = DBOS.register_queue("start-latency")  # defaults: no limit, 1 s polling
    for _ in range(sizes.start_runs):
        began = time.perf_counter()
        DBOS.start_workflow(noop_steps, 1).get_result()
        direct.append(time.perf_counter() - began)
    for _ in range(sizes.start_runs):
        began = time.perf_counter()
        queue.enqueue(noop_steps, 1).get_result()
        queued.append(time.perf_counter() - began)
    _emit(
        "start_latency",
        runs=sizes.start_runs,
        seconds=summary(direct),
        queued_seconds=summary(queued),
    )
    return sorted(direct)[len(direct) // 2]


def throughput(sizes: Sizes, k: int) -> None:
    n = sizes.throughput_instances
    queue = DBOS.register_queue(f"throughput-{k}", global_concurrency=k)
    began = time.perf_counter()
    handles = [queue.enqueue(noop_steps, sizes.throughput_steps) for _ in range(n)]
    created = time.perf_counter() - began
    for handle in handles:
        handle.get_result()
    elapsed = time.perf_counter() - began
    _emit(
        "throughput",
        mode="queue",
        k=k,
        instances=n,
        steps=sizes.throughput_steps,
        seconds=elapsed,
        create_seconds=created,
        instances_per_second=n / elapsed,
    )


def throughput_async(sizes: Sizes, k: int) -> None:
    """Async workflows on one event loop, awaited with at most K in flight."""
    n, steps = sizes.throughput_instances, sizes.throughput_steps

    async def all_of_them() -> float:
        in_flight = asyncio.Semaphore(k)

        async def one() -> None:
            async with in_flight:
                handle = await DBOS.start_workflow_async(noop_steps_async, steps)
                await handle.get_result()

        began = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - began

    elapsed = asyncio.run(all_of_them())
    _emit(
        "throughput",
        mode="async",
        k=k,
        instances=n,
        steps=steps,
        seconds=elapsed,
        instances_per_second=n / elapsed,
    )


def creates(sizes: Sizes) -> None:
    """Enqueue alone: workflows stay queued behind one blocker (concurrency 1)."""
    queue = DBOS.register_queue("creates", global_concurrency=1)
    queue.enqueue(blocker, 3600.0)
    began = time.perf_counter()
    for _ in range(sizes.creates):
        queue.enqueue(blocker, 3600.0)
    elapsed = time.perf_counter() - began
    _emit(
        "creates",
        transport="library",
        instances=sizes.creates,
        seconds=elapsed,
        creates_per_second=sizes.creates / elapsed,
    )


def hibernation(sizes: Sizes, directory: Path, start_seconds: float) -> None:
    """N workflows asleep: DBOS keeps each as a sleeping thread in this process."""
    n = sizes.hibernating
    process = psutil.Process()
    rss_before = process.memory_info().rss
    disk_before = disk_bytes(directory)
    # Starting workflows slows down as sleeping threads pile up: a wide margin.
    until = time.time() + 5 * n * start_seconds + 10
    began = time.perf_counter()
    handles = [DBOS.start_workflow(sleeper, until) for _ in range(n)]
    create_seconds = time.perf_counter() - began
    all_started_before_alarm = time.time() < until
    time.sleep(min(5.0, max(0.0, until - time.time() - 5)))  # let every thread reach its sleep
    rss_after = process.memory_info().rss
    threads = threading.active_count()
    disk_after = disk_bytes(directory)
    log(f"dbos hibernation: {n} asleep, alarm in {until - time.time():.0f}s")
    lateness = [handle.get_result() - until for handle in handles]
    _emit(
        "hibernation",
        instances=n,
        create_api_seconds=create_seconds,
        all_started_before_alarm=all_started_before_alarm,
        threads_while_asleep=threads,
        process_rss_bytes=rss_after,
        process_rss_delta_bytes_per_instance=(rss_after - rss_before) / n,
        disk_bytes_per_instance=(disk_after - disk_before) / n,
        wake_lateness_seconds=summary(lateness),
    )


def event_latency(sizes: Sizes) -> None:
    """send -> the workflow's next step starts, for a live waiting workflow."""
    latencies = []
    for _ in range(sizes.event_runs):
        handle = DBOS.start_workflow(waiter)
        _wait_for_recv(handle.workflow_id)
        sent = time.time()
        DBOS.send(handle.workflow_id, {}, topic="go")
        latencies.append(handle.get_result() - sent)
    _emit("event_latency", state="live", transport="library", seconds=summary(latencies))


def _wait_for_recv(workflow_id: str, timeout: float = 30.0) -> None:
    """Until the workflow has recorded its recv (its steps list shows it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = DBOS.list_workflow_steps(workflow_id)
        if any(step["function_name"] != noop_step.__qualname__ for step in steps):
            return
        time.sleep(0.01)
    raise TimeoutError(f"workflow {workflow_id} never reached recv")


def main() -> None:
    given = json.loads(sys.argv[1])
    sizes = Sizes(
        **{
            **given,
            "throughput_k": tuple(given["throughput_k"]),
            "placements": tuple(given.get("placements", ())),
        }
    )
    directory = Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / f"dbos-{uuid.uuid4().hex[:8]}.sqlite"
    DBOS(config={"name": "pyflow-bench-peer", "system_database_url": f"sqlite:///{database}"})
    DBOS.launch()
    only = set(json.loads(sys.argv[3])) if len(sys.argv) > 3 else None

    def want(name: str) -> bool:
        return only is None or name in only

    try:
        if want("steps"):
            log("dbos: per-step overhead")
            step_overhead(sizes)
        start_seconds = None
        if want("start") or want("hibernation"):
            log("dbos: start latency")
            start_seconds = start_latency(sizes)
        if want("events"):
            log("dbos: event latency")
            event_latency(sizes)
        if want("throughput"):
            for k in sizes.throughput_k:
                log(f"dbos: throughput K={k} (queue)")
                throughput(sizes, k)
            for k in sizes.throughput_k:
                log(f"dbos: throughput K={k} (async, K in flight)")
                throughput_async(sizes, k)
        if want("hibernation") and start_seconds is not None:
            log(f"dbos: hibernation scale ({sizes.hibernating})")
            hibernation(sizes, directory, start_seconds)
        if want("creates"):
            log("dbos: creates")
            creates(sizes)
    finally:
        DBOS.destroy(destroy_registry=False)


if __name__ == "__main__":
    main()
    # DBOS runs workflows in non-daemon threads; the creates benchmark leaves
    # one asleep for an hour, and the interpreter would wait for it at exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
