"""The comparison table of the benchmark report: one row spec per metric.

A :class:`Row` says what a row measures and how each figure is read from the
records of a run (ours, DBOS's, bare Ray's floor); :func:`rows` renders every
spec of :func:`row_specs` for one run. The numbers' formatting (:func:`fmt`)
lives here too, since some notes quote a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .sizes import Sizes

Record = dict[str, Any]


def find(records: list[Record], suite: str, workload: str, **match: Any) -> Record | None:
    for record in records:
        if (
            record.get("suite") == suite
            and record.get("workload") == workload
            and all(record.get(k) == v for k, v in match.items())
        ):
            return record
    return None


def get(record: Record | None, *path: str) -> float | None:
    value: Any = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, (int, float)) else None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


Reader = Callable[[list[Record]], float | None]
Text = Callable[[list[Record]], str]
QUANTILES = ("p50", "p99")
# The parts of a start latency, as the pyflow start_latency record names them.
START_PARTS = (
    ("queueing", "queueing_seconds"),
    ("actor start", "actor_start_seconds"),
    ("execution", "execution_seconds"),
)


def figure(suite: str, workload: str, *path: str, **match: Any) -> Reader:
    """Reads one number: ``path`` into the record of ``suite``/``workload`` matching ``match``."""
    return lambda records: get(find(records, suite, workload, **match), *path)


def pyflow(workload: str, *path: str, **match: Any) -> Reader:
    return figure("pyflow", workload, *path, **match)


def dbos(workload: str, *path: str, **match: Any) -> Reader:
    return figure("dbos", workload, *path, **match)


def nothing(records: list[Record]) -> float | None:
    return None


BARE_RAY = figure("ray", "bare_actor", "seconds", "p50")


@dataclass(frozen=True)
class Row:
    """One row of the comparison table: what it measures and where each figure is read."""

    workload: str
    metric: str | Text
    unit: str
    ours: Reader
    dbos: Reader = nothing
    note: str | Text = ""
    ray: Reader = nothing
    # Rows of a workload whose record may be absent (a run with --only) are left out.
    requires: str | None = None
    # A figure added later: left out of the reports of runs recorded before it.
    added_later: bool = False

    def shown(self, records: list[Record]) -> bool:
        if self.requires is not None and find(records, "pyflow", self.requires) is None:
            return False
        return not self.added_later or self.ours(placed(records, None)) is not None

    def render(self, records: list[Record]) -> dict[str, Any]:
        """Ours read twice: from the dedicated placement's records (and those that
        name none), and from the shared placement's only (None where not measured)."""
        ours, shared = self.ours(placed(records, None)), self.ours(placed(records, "shared"))
        theirs, ray = self.dbos(records), self.ray(records)
        return {
            "workload": self.workload,
            "metric": _text(self.metric, records),
            "unit": self.unit,
            "pyflow": ours,
            "shared": shared,
            "dbos": theirs,
            "ours_over_dbos": ratio(ours, theirs),
            "shared_over_dbos": ratio(shared, theirs),
            "ours_over_bare_ray": ratio(ours, ray),
            "note": _text(self.note, records),
        }


def placed(records: list[Record], placement: str | None) -> list[Record]:
    """The records with pyflow's narrowed to one placement: ``"shared"``, or
    ``None`` for the default (dedicated, and the workloads that name none)."""
    return [
        r
        for r in records
        if r.get("suite") != "pyflow" or (r.get("placement") == "shared") == (placement == "shared")
    ]


def _text(text: str | Text, records: list[Record]) -> str:
    return text if isinstance(text, str) else text(records)


def _if_recorded(suite: str, workload: str, read: Callable[[Record], float]) -> Reader:
    """``read`` of the record, or ``None`` when the workload was not run."""

    def reader(records: list[Record]) -> float | None:
        record = find(records, suite, workload)
        return None if record is None else read(record)

    return reader


def _concurrency(key: str) -> Reader:
    return lambda records: get(find(records, "pyflow", "concurrency"), key)


def _concurrency_limit(records: list[Record]) -> str:
    k = (find(records, "pyflow", "concurrency") or {}).get("k")
    return f"K={k}: max running (must be <= K)"


def _concurrency_checks(records: list[Record]) -> str:
    checks = (find(records, "pyflow", "concurrency") or {}).get("checks", {})
    return "all checks passed" if all(checks.values()) else f"FAILED {checks}"


def _step_runs(records: list[Record]) -> str:
    ours, peer = (find(records, suite, "step_overhead") for suite in ("pyflow", "dbos"))
    runs, pause = get(ours, "runs"), get(ours, "pause_seconds")
    if runs is None or pause is None:  # recorded before the figure was a median: one run
        return ""
    peer_runs = get(peer, "runs")
    peer_text = "" if peer_runs is None else f" (DBOS: {fmt(peer_runs)} workflows)"
    return f"median of {fmt(runs)} instances{peer_text}, each timed after a {pause:g} s pause"


def _hibernated_before_alarm(n: int) -> Text:
    def note(records: list[Record]) -> str:
        asleep = get(find(records, "pyflow", "hibernation"), "asleep_before_alarm")
        return (
            f"ours: {fmt(asleep)} of {n} hibernated before the alarm; "
            "DBOS keeps a thread per sleeping workflow"
        )

    return note


def _disk_per_instance(record: Record) -> float:
    journal = get(record, "journal_disk_bytes_per_instance")
    registry = get(record, "registry_disk_bytes_per_instance")
    return (journal or 0) + (registry or 0)


def _mebibytes(key: str) -> Callable[[Record], float]:
    return lambda record: (get(record, key) or 0) / 2**20


def _cluster_note(records: list[Record]) -> str:
    one = get(find(records, "cluster", "throughput", nodes=1), "instances_per_second")
    three = get(find(records, "cluster", "throughput", nodes=3), "instances_per_second")
    return f"1 node: {fmt(one)}/s; 3 nodes / 1 node = {fmt(ratio(three, one))}"


def _dbos_event_note(records: list[Record]) -> str:
    return "DBOS: send/recv, SQLite polling" if find(records, "dbos", "event_latency") else ""


def _event_latency_rows() -> list[Row]:
    table = []
    for state in ("live", "hibernated"):
        for transport in ("ray", "http"):
            # DBOS's send/recv is compared with the closest of ours: a live instance, by handle.
            peer = (state, transport) == ("live", "ray")
            via = "handle" if transport == "ray" else "HTTP"
            table += [
                Row(
                    "event latency",
                    f"send_event -> resume, {state}, via {via}, {q}",
                    "s",
                    pyflow("event_latency", "seconds", q, state=state, transport=transport),
                    dbos("event_latency", "seconds", q) if peer else nothing,
                    _dbos_event_note if peer else "",
                )
                for q in QUANTILES
            ]
    return table


def row_specs(sizes: Sizes) -> list[Row]:
    """Every row of the comparison table, in order, for a run of ``sizes``."""
    n = sizes.hibernating
    return [
        Row(
            "per-step overhead",
            f"{sizes.steps} sequential no-op steps",
            "ms/step",
            pyflow("step_overhead", "ms_per_step"),
            dbos("step_overhead", "ms_per_step"),
            _step_runs,
        ),
        *(
            Row(
                "start latency",
                f"create -> complete, 1 step, {q}",
                "s",
                pyflow("start_latency", "seconds", q),
                dbos("start_latency", "seconds", q),
                "DBOS: start_workflow (no queue)",
                ray=BARE_RAY if q == "p50" else nothing,
            )
            for q in QUANTILES
        ),
        Row(
            "start latency",
            "DBOS enqueue -> complete, p50",
            "s",
            pyflow("start_latency", "seconds", "p50"),
            dbos("start_latency", "queued_seconds", "p50"),
            "DBOS queue, default 1 s polling",
        ),
        *(
            Row(
                "start latency",
                f"  of which {part}, p50",
                "s",
                pyflow("start_latency", key, "p50"),
                ray=BARE_RAY if part == "actor start" else nothing,
            )
            for part, key in START_PARTS
        ),
        Row(
            "baseline",
            "bare Ray actor create+call+kill, p50",
            "s",
            BARE_RAY,
            note=lambda records: str((find(records, "ray", "bare_actor") or {}).get("note", "")),
        ),
        *(
            Row(
                "throughput",
                f"{sizes.throughput_instances} x {sizes.throughput_steps} steps, K={k}",
                "instances/s",
                pyflow("throughput", "instances_per_second", k=k),
                dbos("throughput", "instances_per_second", k=k),
                "DBOS queue global_concurrency=K",
            )
            for k in sizes.throughput_k
        ),
        *(
            Row(
                "throughput",
                f"{sizes.throughput_instances} x {sizes.throughput_steps} steps, K={k}, "
                "vs DBOS's best mode",
                "instances/s",
                pyflow("throughput", "instances_per_second", k=k),
                dbos("throughput", "instances_per_second", k=k, mode="async"),
                "DBOS: async workflows awaited, K in flight",
            )
            for k in sizes.throughput_k
        ),
        Row(
            "creates alone",
            f"{sizes.creates} via create_batch, client",
            "creates/s",
            pyflow("creates", "creates_per_second", transport="ray"),
            dbos("creates", "creates_per_second"),
            "DBOS: queue.enqueue one by one (no batch API)",
        ),
        Row(
            "creates alone",
            f"{sizes.creates} via create_batch, HTTP",
            "creates/s",
            pyflow("creates", "creates_per_second", transport="http"),
            note="DBOS has no HTTP API",
        ),
        Row(
            "concurrency limit",
            _concurrency_limit,
            "instances",
            _concurrency("max_running"),
            note=_concurrency_checks,
            requires="concurrency",
        ),
        Row(
            "concurrency limit",
            "max running + waiting (> K: waits hold no slot)",
            "instances",
            _concurrency("max_running_plus_waiting"),
            requires="concurrency",
        ),
        Row(
            "concurrency limit",
            "resumed started after newer queued (must be 0)",
            "pairs",
            _concurrency("priority_inversions"),
            requires="concurrency",
        ),
        Row(
            "concurrency limit",
            "slot utilisation while a backlog waits",
            "fraction",
            _concurrency("slot_utilisation_while_backlogged"),
            requires="concurrency",
        ),
        Row(
            "hibernation",
            f"{n} asleep: live actors / DBOS threads",
            "count",
            pyflow("hibernation", "live_actors_while_asleep"),
            dbos("hibernation", "threads_while_asleep"),
            _hibernated_before_alarm(n),
        ),
        Row(
            "hibernation",
            "create API time",
            "s",
            pyflow("hibernation", "create_api_seconds"),
            dbos("hibernation", "create_api_seconds"),
        ),
        Row(
            "hibernation",
            "time until all are asleep",
            "s",
            pyflow("hibernation", "seconds_until_all_hibernated"),
            note="one actor start per instance to reach its sleep",
        ),
        Row(
            "hibernation",
            "supervisor / DBOS process RSS growth per instance",
            "bytes",
            pyflow("hibernation", "supervisor_rss_delta_bytes_per_instance"),
            dbos("hibernation", "process_rss_delta_bytes_per_instance"),
            "RSS after minus before, over N: noise below ~1,000 instances"
            if n < 1000
            else "RSS after minus before, over N",
        ),
        Row(
            "hibernation",
            "supervisor RSS",
            "MiB",
            _if_recorded("pyflow", "hibernation", _mebibytes("supervisor_rss_bytes")),
            _if_recorded("dbos", "hibernation", _mebibytes("process_rss_bytes")),
        ),
        Row(
            "hibernation",
            "disk per instance (journal + registry)",
            "bytes",
            _if_recorded("pyflow", "hibernation", _disk_per_instance),
            dbos("hibernation", "disk_bytes_per_instance"),
        ),
        *(
            Row(
                "hibernation",
                f"wake-up lateness, all alarms at once, {q}",
                "s",
                pyflow("hibernation", "wake_lateness_seconds", q),
                dbos("hibernation", "wake_lateness_seconds", q),
            )
            for q in QUANTILES
        ),
        *_event_latency_rows(),
        *_speed_rows(sizes),
        *_history_rows(sizes),
        Row(
            "cluster",
            f"{sizes.cluster_instances} x 3 steps, 3 nodes vs 1 (one machine)",
            "instances/s",
            figure("cluster", "throughput", "instances_per_second", nodes=3),
            note=_cluster_note,
        ),
    ]


ACTIVATION_PHASES = (
    ("a Ray worker process up", "worker_process_up"),
    ("the engine imported", "import_engine"),
    ("the workflow class loaded", "load_workflow_class"),
    ("a new journal opened", "open_new_journal"),
    ("20 journaled steps replayed", "replay_20_steps"),
    ("one step run (journal open + commit)", "first_step"),
)


def _speed_rows(sizes: Sizes) -> list[Row]:
    """Activation phases and cost, admission, simultaneous alarms (speed_bench.py)."""
    phases = [
        Row(
            "activation",
            f"  phase: {label}, p50",
            "s",
            pyflow("activation", "phases_seconds", key, "p50"),
            requires="activation",
        )
        for label, key in ACTIVATION_PHASES
    ]
    alarm_rows = [
        Row(
            "alarms",
            f"{n} simultaneous alarms, wake-up lateness {q}",
            "s",
            pyflow("alarms", "wake_lateness_seconds", q, instances=n),
            note=_preactivated(n),
            requires="alarms",
        )
        for n in sizes.alarm_counts
        for q in QUANTILES
    ]
    return [
        Row(
            "activation",
            "CPU-s per activation (whole Ray process tree, cold actor)",
            "CPU-s",
            pyflow("activation", "cpu_seconds_per_activation"),
            requires="activation",
        ),
        Row(
            "activation",
            "CPU-s of the instance actor's own process to its first step, p50",
            "CPU-s",
            pyflow("activation", "actor_process_cpu_seconds", "p50"),
            requires="activation",
            added_later=True,
        ),
        *phases,
        Row(
            "activation",
            "instance actor memory while waiting (USS)",
            "MiB",
            _if_recorded(
                "pyflow", "activation", lambda r: r["idle_actor_memory"]["uss_bytes"] / 2**20
            ),
            requires="activation",
        ),
        Row(
            "admission",
            "queued instance admitted -> first step, p50",
            "s",
            pyflow("admission", "admitted_to_first_step_seconds", "p50"),
            requires="admission",
        ),
        *alarm_rows,
    ]


def _preactivated(n: int) -> Text:
    """How many of the shared sleepers woke pre-activated in their host (if measured)."""

    def note(records: list[Record]) -> str:
        shared = find(records, "pyflow", "alarms", instances=n, placement="shared")
        woke = get(shared, "preactivated_woke")
        return "" if woke is None else f"shared: {fmt(woke)} of {n} woke pre-activated"

    return note


def _fold_cpu(steps: int) -> Text:
    def note(records: list[Record]) -> str:
        record = find(records, "pyflow", "history", steps=steps)
        return f"CPU: {fmt(get(record, 'fold_cpu_ms_per_instance'))} ms per instance"

    return note


def _history_rows(sizes: Sizes) -> list[Row]:
    """Disk per finished instance and the fold's cost (history_bench.py)."""
    n = sizes.history_instances
    return [
        row
        for steps in (1, 3)
        for row in (
            Row(
                "disk per finished instance",
                f"{n} x {steps} step(s): journal + sidecars before the fold",
                "bytes",
                pyflow("history", "journal_disk_bytes_per_instance", steps=steps),
                requires="history",
            ),
            Row(
                "disk per finished instance",
                f"{n} x {steps} step(s): history store share + files left, after the fold",
                "bytes",
                pyflow("history", "finished_disk_bytes_per_instance", steps=steps),
                dbos("hibernation", "disk_bytes_per_instance"),
                "store growth / N after a CHECKPOINT; the registry row is the same before "
                "and after; DBOS: disk per workflow",
                requires="history",
            ),
            Row(
                "disk per finished instance",
                f"{n} x {steps} step(s): fold cost per instance (wall)",
                "ms",
                pyflow("history", "fold_ms_per_instance", steps=steps),
                note=_fold_cpu(steps),
                requires="history",
            ),
        )
    ]


def rows(records: list[Record], sizes: Sizes) -> list[dict[str, Any]]:
    """The comparison table: one row per metric, ours, DBOS, ratio, Ray's floor."""
    return [spec.render(records) for spec in row_specs(sizes) if spec.shown(records)]


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and value >= 100):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
