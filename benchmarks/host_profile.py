"""Where the time of a shared-placement instance goes (issue 17's profile).

Runs sequential create -> complete of a 1-step instance on the shared
placement (the engine in a local Ray of its own, as ``make bench-quick``) and
reports, per instance:

* the latency, the client's and the engine's split (queueing, placement and
  journal open until the first step, execution), p50 over the runs;
* the CPU-seconds each process spent (supervisor, host, this driver), from
  the kernel's counters, which a loaded machine inflates far less than wall
  time;
* with ``--py-spy`` (in the ``bench`` extra), a sampled profile of the host
  and of the supervisor while the runs go on, the top functions by own time.

It also measures the floor under a journal: DuckDB's commit cost here (a loop
of tiny committed inserts in an attached file), and the cost of creating a
journal and opening an existing one on a host's shared DuckDB instance.

    .venv/bin/python -m benchmarks.host_profile --runs 30 [--py-spy]
    .venv/bin/python -m benchmarks.host_profile --runs 0 --events 20 --alarms 1000

``--events``: send_event -> resume of evicted (hibernated) waiters; ``--alarms``:
N shared instances asleep until one moment (the alarm set from ``--rate``),
their wake-up lateness (``make bench``'s 1,000 simultaneous alarms);
``--speed``: ``make bench-quick``'s shared workloads (per-step overhead, start
latency, 16 x 3 steps at K = 2, 8, 32) with the CPU each process spent per
throughput instance, to compare two versions back to back on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import psutil
import ray

from .measure import emit, summary
from .pyflow_bench import PyflowBench, placed
from .sizes import QUICK


def duckdb_floor(folder: Path, runs: int = 200) -> dict[str, Any]:
    """A tiny committed insert (with the journals' DuckDB settings, and with DuckDB's
    defaults), an empty statement, an fsync, a journal created and reopened."""
    from pyflow_actors.storage.duck import journal_database
    from pyflow_actors.storage.journal import DuckJournal

    def inserts(database: duckdb.DuckDBPyConnection, name: str) -> tuple[list[float], ...]:
        database.execute("PRAGMA disable_checkpoint_on_shutdown")  # as a host's
        cursor = database.cursor()
        cursor.execute(f"ATTACH '{folder / name}' AS floor (BLOCK_SIZE 16384)")
        cursor.execute("USE floor")
        cursor.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
        commit, cpu, statement = [], [], []
        for i in range(runs):
            began, began_cpu = time.perf_counter(), time.process_time()
            cursor.execute("INSERT INTO t VALUES (?, ?)", [i, "x"])
            commit.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
            began = time.perf_counter()
            cursor.execute("SELECT 1").fetchall()
            statement.append(time.perf_counter() - began)
        return commit, cpu, statement

    defaults = inserts(duckdb.connect(":memory:"), "defaults.duckdb")
    database = journal_database()
    commit, cpu, statement = inserts(database, "floor.duckdb")
    synced = []
    with (folder / "fsync").open("ab") as file:
        for _ in range(runs):
            began = time.perf_counter()
            file.write(b"x" * 512)
            file.flush()
            os.fsync(file.fileno())
            synced.append(time.perf_counter() - began)
    created, reopened = [], []
    for i in range(max(10, runs // 10)):
        path = folder / f"j{i}.duckdb"
        began = time.perf_counter()
        DuckJournal(path, database=database).close()
        created.append(time.perf_counter() - began)
        began = time.perf_counter()
        DuckJournal(path, database=database).close()
        reopened.append(time.perf_counter() - began)
    return emit(
        {
            "suite": "host_profile",
            "workload": "duckdb_floor",
            "committed_insert_seconds": summary(commit),
            "committed_insert_cpu_seconds": summary(cpu),
            "committed_insert_seconds_duckdb_defaults": summary(defaults[0]),
            "committed_insert_cpu_seconds_duckdb_defaults": summary(defaults[1]),
            "fsync_512_bytes_seconds": summary(synced),
            "statement_seconds": summary(statement),
            "journal_create_seconds": summary(created),
            "journal_reopen_seconds": summary(reopened),
        }
    )


def step_floor(folder: Path, steps: int = 200) -> dict[str, Any]:
    """Per-step cost against its floor, in this process at the same moment: the
    journal's per-step statement alone (the step's one row, an autocommit INSERT)
    vs a ``steps``-step instance run by an in-process host (the replay engine,
    the start log, that INSERT)."""
    import asyncio

    from pyflow_actors.runtime.host import InstanceHost
    from pyflow_actors.runtime.protocol import RunRequest
    from pyflow_actors.storage.duck import journal_database
    from pyflow_actors.storage.journal import DuckJournal
    from pyflow_actors.storage.journal_rows import INSERT_STEP

    from .step_profile import noop_setup

    database = journal_database()  # as a host's: one thread, no optimizer (storage/duck.py)
    database.execute("PRAGMA disable_checkpoint_on_shutdown")
    journal = DuckJournal(folder / "floor-steps.duckdb", database=database)
    db = journal._db
    row = ["noop", "step", 0, 1.0, "complete", 2.0, "1", None, None, "{}", None, None]
    began = time.perf_counter()
    for i in range(steps):  # a step its first attempt ended: its one row (journal format 2)
        db.execute(INSERT_STEP, [f"noop {i}", *row])
    floor = (time.perf_counter() - began) / steps
    journal.close()

    async def hosted() -> float:
        host = InstanceHost("profile")
        setup = noop_setup(folder)
        await host.place(setup, "t")
        # The first placement fills the host's journal stock (16 journals) in a
        # thread; timed beside it, a step read ~0.1 CPU-ms and ~2.5 context
        # switches more than on a settled host (docs/performance-notes.md).
        await asyncio.gather(*host._refilling.values())
        outcome = await host.run(("noop", "steps"), RunRequest(1, f'{{"steps": {steps}}}', 1.0))
        await host.close()
        return float(outcome.output or "nan") / steps

    per_step = asyncio.run(hosted())
    return emit(
        {
            "suite": "host_profile",
            "workload": "step_floor",
            "steps": steps,
            "floor_ms_per_step": round(floor * 1000, 3),
            "host_ms_per_step": round(per_step * 1000, 3),
            "ratio": round(per_step / floor, 2),
        }
    )


def _cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _ray_pids() -> dict[str, int]:
    """Ray's own processes of the driver's local Ray (GCS, raylet, monitors, agents)."""
    node = ray._private.worker._global_node  # the node this driver started
    pids = {f"ray:{kind}": infos[0].process.pid
            for kind, infos in node.all_processes.items() if infos}  # fmt: skip
    if "ray:raylet" in pids:  # its agents (dashboard, runtime env); idle workers are spares
        for child in psutil.Process(pids["ray:raylet"]).children():
            if "Agent" in child.name():
                pids[f"ray:{child.name().removeprefix('ray::')}"] = child.pid
    return pids


def _with_total(cpu: dict[str, float]) -> dict[str, float]:
    ray_share = sum(ms for name, ms in cpu.items() if name.startswith("ray:"))
    return {**cpu, "ray_total": round(ray_share, 2), "total": round(sum(cpu.values()), 2)}


def _host_pids() -> dict[str, int]:
    names = [
        n["name"]
        for n in ray.util.list_named_actors(all_namespaces=True)
        if n["name"].startswith("pyflow-host-")
    ]
    return {
        name: int(ray.get(ray.get_actor(name).pid.remote(), timeout=10))
        for name in names  # the bench's namespace is the driver's
    }


def _settle_hosts(timeout: float = 20.0) -> None:
    """Wait for the pool's second host (started once the first shared run ended), so
    that its worker start does not land on the next workload, as in bench-quick where
    the dedicated start runs come between."""
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    while len(_host_pids()) < min(2, cpus) and time.monotonic() < deadline:
        time.sleep(0.1)


def _py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(tool).exists():
        return None
    return subprocess.Popen(
        [tool, "record", "-p", str(pid), "-d", str(int(seconds)), "-f", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


IDLE = ("main_loop", "select", "wait", "_worker (", "_bootstrap")


def _top(raw: Path, n: int = 25) -> dict[str, list[tuple[str, float]]]:
    """From a py-spy raw (collapsed) file: the busiest innermost frames (own time)
    and pyflow functions (time inside them), as shares of the busy samples."""
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    busy = 0
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[-1] or any(mark in frames[-1] for mark in IDLE):
            continue
        busy += int(count)
        own[frames[-1]] += int(count)
        for frame in {f for f in frames if "pyflow_actors/" in f}:
            inside[frame] += int(count)
    if not busy:
        return {}
    share = lambda counter: [(f, round(c / busy, 3)) for f, c in counter.most_common(n)]  # noqa: E731
    return {"own": share(own), "inside": share(inside), "busy_samples": [("n", busy)]}


def start_path(bench: PyflowBench, runs: int, spy: bool) -> dict[str, Any]:
    """Sequential create -> complete of 1-step shared instances; CPU per process.

    Two passes: the first only creates and polls the status (CPU counters and
    py-spy see the engine's path alone); the second also reads each
    instance's steps, for the engine's split of the latency."""
    workflow = bench.client.workflow(placed("noop", "shared"))
    bench._wait_final(workflow.create(params={"steps": 1}))  # a host up, code loaded
    supervisor = int(ray.get(bench.engine.supervisor.pid.remote()))  # type: ignore[union-attr]
    pids = {"supervisor": supervisor, **_host_pids(), "driver": psutil.Process().pid}
    folder = Path(tempfile.mkdtemp(prefix="host-profile-"))
    spies = _spies(pids, folder, runs * 0.5 + 60) if spy else {}
    before = {name: _cpu(pid) for name, pid in pids.items()}
    observed = []
    began = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        bench._wait_final(workflow.create(params={"steps": 1}), poll=0.002)
        observed.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - began
    cpu = {name: round((_cpu(pid) - before[name]) * 1000 / runs, 2) for name, pid in pids.items()}
    profiles = _stop_spies(spies, folder)
    total, queueing, to_first_step, execution = [], [], [], []
    for _ in range(runs):
        instance = workflow.create(params={"steps": 1})
        status = bench._wait_final(instance, poll=0.002)
        first = instance.describe().steps[0].start
        assert status.started_at is not None and status.ended_at is not None
        total.append(status.ended_at - status.created_at)
        queueing.append(status.started_at - status.created_at)
        to_first_step.append(first - status.started_at)
        execution.append(status.ended_at - first)
    return emit(
        {
            "suite": "host_profile",
            "workload": "start_path",
            "runs": runs,
            "client_observed_seconds": summary(observed),
            "seconds": summary(total),
            "queueing_seconds": summary(queueing),
            "placement_and_open_seconds": summary(to_first_step),
            "execution_seconds": summary(execution),
            "cpu_ms_per_instance": cpu,
            "wall_ms_per_instance": round(elapsed * 1000 / runs, 2),
            "load_average": psutil.getloadavg(),
            "profiles": profiles,
        }
    )


def speed(bench: PyflowBench, ks: tuple[int, ...] = (2, 8, 32), spy: bool = False) -> None:
    """bench-quick's shared workloads, and CPU-ms per throughput instance per process
    (with ``spy``: py-spy samples the supervisor and the hosts during each K's run)."""
    bench.step_overhead("shared")
    _settle_hosts()
    bench.start_latency("shared")
    supervisor = int(ray.get(bench.engine.supervisor.pid.remote()))  # type: ignore[union-attr]
    for k in ks:
        pids = {"supervisor": supervisor, **_host_pids(), "driver": psutil.Process().pid}
        folder = Path(tempfile.mkdtemp(prefix="host-profile-"))
        spies = _spies(pids, folder, bench.sizes.throughput_instances * 0.2 + 60) if spy else {}
        pids.update(_ray_pids())
        before = {name: _cpu(pid) for name, pid in pids.items()}
        record = bench.throughput(k, "shared")
        n = record["instances"]
        for name, pid in _host_pids().items():  # a host started during the run: all of it
            before.setdefault(name, 0.0)
            pids.setdefault(name, pid)
        cpu = {name: round((_cpu(pid) - before[name]) * 1000 / n, 2) for name, pid in pids.items()}
        cpu = _with_total(cpu)
        emit(
            {
                "suite": "host_profile",
                "workload": "throughput_cpu",
                "k": k,
                "instances": n,
                "instances_per_second": record["instances_per_second"],
                "cpu_ms_per_instance": cpu,
                "load_average": psutil.getloadavg(),
                "profiles": _stop_spies(spies, folder),
            }
        )


LEAD_WINDOW = 40.0  # seconds before the alarm the CPU "ahead of it" is counted from


def alarms(bench: PyflowBench, rate: float, spy: bool = False) -> None:
    """``make bench``'s simultaneous alarms (shared), and the CPU each process spent per
    wake-up: counters sampled every 0.25 s, read at the alarm and once all completed
    (with ``spy``: py-spy samples the supervisor and the hosts from the alarm on)."""
    supervisor = int(ray.get(bench.engine.supervisor.pid.remote()))  # type: ignore[union-attr]
    samples: list[tuple[float, dict[str, float]]] = []
    stop = threading.Event()
    n = bench.sizes.hibernating
    alarm_at = time.time() + 1.5 * n / max(rate, 0.1) + 10  # as the workload sets it
    folder = Path(tempfile.mkdtemp(prefix="host-profile-"))
    spies: dict[str, Any] = {}

    def sample() -> None:
        while not stop.wait(0.25):
            pids = {"supervisor": supervisor, **_host_pids_quiet()}
            samples.append((time.time(), {name: _cpu(pid) for name, pid in pids.items()}))
            if spy and not spies and time.time() > alarm_at - 0.5:
                spies.update(_spies(pids, folder, 600))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    record = bench.hibernation(rate, "shared")
    stop.set()
    sampler.join()
    profiles = _stop_spies(spies, folder)
    ended = time.time()
    alarm = ended - record["all_complete_after_alarm_seconds"]
    at_alarm = min(samples, key=lambda s: abs(s[0] - alarm))[1]
    # From LEAD_WINDOW before the alarm (all asleep by then): the work done ahead
    # of it too (shared instances pre-activated in their hosts), and idle time.
    at_lead = min(samples, key=lambda s: abs(s[0] - alarm + LEAD_WINDOW))[1]
    at_end = samples[-1][1]
    emit(
        {
            "suite": "host_profile",
            "workload": "alarm_cpu",
            "instances": n,
            "lateness_p50": record["wake_lateness_seconds"]["p50"],
            "lateness_p99": record["wake_lateness_seconds"]["p99"],
            "cpu_ms_per_wake": {
                name: round((at_end[name] - at_alarm.get(name, 0.0)) * 1000 / n, 2)
                for name in at_end
            },
            f"cpu_ms_per_wake_from_{LEAD_WINDOW:.0f}s_before": {
                name: round((at_end[name] - at_lead.get(name, 0.0)) * 1000 / n, 2)
                for name in at_end
            },
            "load_average": psutil.getloadavg(),
            "profiles": profiles,
        }
    )


def _host_pids_quiet() -> dict[str, int]:
    try:
        return _host_pids()
    except Exception:  # noqa: BLE001 - a host starting or retired while sampled
        return {}


def _spies(pids: dict[str, int], folder: Path, seconds: float) -> dict[str, Any]:
    """py-spy on every process but this driver, writing into ``folder``."""
    spies = {}
    for name, pid in pids.items():
        process = _py_spy(pid, seconds, folder / f"{name}.txt")
        if process is not None and name != "driver":
            spies[name] = process
    time.sleep(1.0)  # py-spy attached
    return spies


def _stop_spies(spies: dict[str, Any], folder: Path) -> dict[str, Any]:
    profiles = {}
    for name, process in spies.items():
        process.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
        process.wait(timeout=60)
        profiles[name] = _top(folder / f"{name}.txt")
    shutil.rmtree(folder, ignore_errors=True)
    return profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.host_profile")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--py-spy", action="store_true", help="sample the host and supervisor")
    parser.add_argument("--events", type=int, default=0, help="send_event -> resume, evicted")
    parser.add_argument("--alarms", type=int, default=0, help="N shared instances, one alarm")
    parser.add_argument("--rate", type=float, default=10.0, help="instances/s to reach sleep")
    parser.add_argument("--speed", action="store_true", help="bench-quick's shared workloads")
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 8, 32],
                        help="concurrency limits K of --speed's throughput runs")  # fmt: skip
    parser.add_argument("--instances", type=int, default=QUICK.throughput_instances,
                        help="instances per K in --speed's throughput runs")  # fmt: skip
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pyflow-host-profile-"))
    sizes = replace(
        QUICK,
        placements=("shared",),
        event_runs=args.events,
        hibernating=args.alarms,
        throughput_instances=args.instances,
    )
    try:
        duckdb_floor(work)
        step_floor(work)
        bench = PyflowBench(sizes, work / "pyflow", [])
        bench.start()
        try:
            if args.speed:
                speed(bench, tuple(args.ks), spy=args.py_spy)
            if args.runs:
                start_path(bench, args.runs, args.py_spy)
            if args.events:
                bench.event_latency(True, "ray", "shared")
            if args.alarms:
                alarms(bench, args.rate, args.py_spy)
        finally:
            bench.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
