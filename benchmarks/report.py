"""Turn the benchmark records into ``bench-<mode>.json``, ``.md`` and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
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


def rows(records: list[Record], sizes: Sizes) -> list[dict[str, Any]]:
    """The comparison table: one row per metric, ours, DBOS, ratio, Ray's floor."""
    table: list[dict[str, Any]] = []

    def add(
        workload: str,
        metric: str,
        unit: str,
        ours: float | None,
        dbos: float | None = None,
        note: str = "",
        ray: float | None = None,
    ) -> None:
        table.append(
            {
                "workload": workload,
                "metric": metric,
                "unit": unit,
                "pyflow": ours,
                "dbos": dbos,
                "ours_over_dbos": ratio(ours, dbos),
                "ours_over_bare_ray": ratio(ours, ray),
                "note": note,
            }
        )

    pf = lambda workload, **m: find(records, "pyflow", workload, **m)  # noqa: E731
    db = lambda workload, **m: find(records, "dbos", workload, **m)  # noqa: E731
    bare = get(find(records, "ray", "bare_actor"), "seconds", "p50")

    add(
        "per-step overhead",
        f"{sizes.steps} sequential no-op steps",
        "ms/step",
        get(pf("step_overhead"), "ms_per_step"),
        get(db("step_overhead"), "ms_per_step"),
    )
    start, dbos_start = pf("start_latency"), db("start_latency")
    for q in ("p50", "p99"):
        add(
            "start latency",
            f"create -> complete, 1 step, {q}",
            "s",
            get(start, "seconds", q),
            get(dbos_start, "seconds", q),
            "DBOS: start_workflow (no queue)",
            ray=bare if q == "p50" else None,
        )
    add(
        "start latency",
        "DBOS enqueue -> complete, p50",
        "s",
        get(start, "seconds", "p50"),
        get(dbos_start, "queued_seconds", "p50"),
        "DBOS queue, default 1 s polling",
    )
    for part, key in (
        ("queueing", "queueing_seconds"),
        ("actor start", "actor_start_seconds"),
        ("execution", "execution_seconds"),
    ):
        add(
            "start latency",
            f"  of which {part}, p50",
            "s",
            get(start, key, "p50"),
            ray=bare if part == "actor start" else None,
        )
    add("baseline", "bare Ray actor create+call+kill, p50", "s", bare)
    for k in sizes.throughput_k:
        add(
            "throughput",
            f"{sizes.throughput_instances} x {sizes.throughput_steps} steps, K={k}",
            "instances/s",
            get(pf("throughput", k=k), "instances_per_second"),
            get(db("throughput", k=k), "instances_per_second"),
            "DBOS queue global_concurrency=K",
        )
    add(
        "creates alone",
        f"{sizes.creates} via create_batch, client",
        "creates/s",
        get(pf("creates", transport="ray"), "creates_per_second"),
        get(db("creates"), "creates_per_second"),
        "DBOS: queue.enqueue one by one (no batch API)",
    )
    add(
        "creates alone",
        f"{sizes.creates} via create_batch, HTTP",
        "creates/s",
        get(pf("creates", transport="http"), "creates_per_second"),
        note="DBOS has no HTTP API",
    )
    conc = pf("concurrency")
    if conc is not None:
        checks = conc.get("checks", {})
        add(
            "concurrency limit",
            f"K={conc['k']}: max running (must be <= K)",
            "instances",
            conc["max_running"],
            note="all checks passed" if all(checks.values()) else f"FAILED {checks}",
        )
        add(
            "concurrency limit",
            "max running + waiting (> K: waits hold no slot)",
            "instances",
            conc["max_running_plus_waiting"],
        )
        add(
            "concurrency limit",
            "resumed started after newer queued (must be 0)",
            "pairs",
            conc["priority_inversions"],
        )
        add(
            "concurrency limit",
            "slot utilisation while a backlog waits",
            "fraction",
            conc["slot_utilisation_while_backlogged"],
        )
    hib, dhib = pf("hibernation"), db("hibernation")
    n = sizes.hibernating
    add(
        "hibernation",
        f"{n} asleep: live actors / DBOS threads",
        "count",
        get(hib, "live_actors_while_asleep"),
        get(dhib, "threads_while_asleep"),
        f"ours: {_fmt(get(hib, 'asleep_before_alarm'))} of {n} hibernated before the alarm; "
        "DBOS keeps a thread per sleeping workflow",
    )
    add(
        "hibernation",
        "create API time",
        "s",
        get(hib, "create_api_seconds"),
        get(dhib, "create_api_seconds"),
    )
    add(
        "hibernation",
        "time until all are asleep",
        "s",
        get(hib, "seconds_until_all_hibernated"),
        note="one actor start per instance to reach its sleep",
    )
    add(
        "hibernation",
        "supervisor / DBOS process RSS growth per instance",
        "bytes",
        get(hib, "supervisor_rss_delta_bytes_per_instance"),
        get(dhib, "process_rss_delta_bytes_per_instance"),
        "RSS after minus before, over N: noise below ~1,000 instances"
        if n < 1000
        else "RSS after minus before, over N",
    )
    add(
        "hibernation",
        "supervisor RSS",
        "MiB",
        (get(hib, "supervisor_rss_bytes") or 0) / 2**20 if hib else None,
        (get(dhib, "process_rss_bytes") or 0) / 2**20 if dhib else None,
    )
    journal = get(hib, "journal_disk_bytes_per_instance")
    registry = get(hib, "registry_disk_bytes_per_instance")
    add(
        "hibernation",
        "disk per instance (journal + registry)",
        "bytes",
        (journal or 0) + (registry or 0) if hib else None,
        get(dhib, "disk_bytes_per_instance"),
    )
    for q in ("p50", "p99"):
        add(
            "hibernation",
            f"wake-up lateness, all alarms at once, {q}",
            "s",
            get(hib, "wake_lateness_seconds", q),
            get(dhib, "wake_lateness_seconds", q),
        )
    for state in ("live", "hibernated"):
        for transport in ("ray", "http"):
            theirs = db("event_latency") if (state, transport) == ("live", "ray") else None
            for q in ("p50", "p99"):
                add(
                    "event latency",
                    f"send_event -> resume, {state}, via {'handle' if transport == 'ray' else 'HTTP'}, {q}",
                    "s",
                    get(pf("event_latency", state=state, transport=transport), "seconds", q),
                    get(theirs, "seconds", q),
                    "DBOS: send/recv, SQLite polling" if theirs else "",
                )
    one = find(records, "cluster", "throughput", nodes=1)
    three = find(records, "cluster", "throughput", nodes=3)
    add(
        "cluster",
        f"{sizes.cluster_instances} x 3 steps, 3 nodes vs 1 (one machine)",
        "instances/s",
        get(three, "instances_per_second"),
        note=f"1 node: {_fmt(get(one, 'instances_per_second'))}/s; "
        f"3 nodes / 1 node = {_fmt(ratio(get(three, 'instances_per_second'), get(one, 'instances_per_second')))}",
    )
    return table


def _fmt(value: Any) -> str:
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


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def markdown(records: list[Record], sizes: Sizes, table: list[dict[str, Any]]) -> str:
    machine = find(records, "machine", "machine") or {}
    run = find(records, "machine", "run") or {}
    lines = [
        f"# pyflow-actors benchmarks ({sizes.mode})",
        "",
        f"{machine.get('date_utc', '')}; {machine.get('cores')} cores, "
        f"{machine.get('memory_gib')} GiB; Python {machine.get('python')}, Ray {machine.get('ray')}, "
        f"DuckDB {machine.get('duckdb')}, DBOS {machine.get('dbos')} (SQLite system database, "
        f"defaults). Load average at start {_loads(machine.get('load_average_at_start'))}, "
        f"at end {_loads(run.get('load_average_at_end'))}; the run took "
        f"{_fmt(run.get('seconds'))} s.",
        "",
        "Ratios are ours / DBOS (for latencies and sizes lower is better for us, for "
        "rates higher is) and ours / a bare Ray actor create+call+kill.",
        "",
        "| workload | metric | unit | pyflow-actors | DBOS | ours/DBOS | ours/bare Ray | note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in table:
        lines.append(
            f"| {row['workload']} | {row['metric']} | {row['unit']} | {_fmt(row['pyflow'])} | "
            f"{_fmt(row['dbos'])} | {_ratio(row['ours_over_dbos'])} | "
            f"{_ratio(row['ours_over_bare_ray'])} | {row['note']} |"
        )
    lines += [
        "",
        "Sizes: " + ", ".join(f"{k}={v}" for k, v in sizes.as_dict().items() if k != "mode"),
        "",
        f"![start latency](bench-{sizes.mode}-start_latency.png) "
        f"![throughput](bench-{sizes.mode}-throughput.png)",
        f"![latency](bench-{sizes.mode}-latency.png) "
        f"![concurrency](bench-{sizes.mode}-concurrency.png)",
        "",
    ]
    return "\n".join(lines)


def _loads(value: Any) -> str:
    if not value:
        return "—"
    return " / ".join(f"{v:.1f}" for v in value)


def plots(records: list[Record], sizes: Sizes, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []

    def save(name: str, draw: Callable[[Any], None]) -> None:
        figure, axes = plt.subplots(figsize=(6, 3.4), dpi=80)
        draw(axes)
        figure.tight_layout()
        path = out / f"bench-{sizes.mode}-{name}"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)

    start = find(records, "pyflow", "start_latency")
    bare = find(records, "ray", "bare_actor")

    def draw_start(axes: Any) -> None:
        parts = [
            ("queueing", "queueing_seconds"),
            ("actor start", "actor_start_seconds"),
            ("execution", "execution_seconds"),
        ]
        bottom = 0.0
        for label, key in parts:
            value = get(start, key, "p50") or 0.0
            axes.bar(["pyflow-actors"], [value], bottom=bottom, label=label)
            bottom += value
        axes.bar(["bare Ray actor"], [get(bare, "seconds", "p50") or 0.0], label="create+call+kill")
        dbos = get(find(records, "dbos", "start_latency"), "seconds", "p50")
        if dbos is not None:
            axes.bar(["DBOS start_workflow"], [dbos], label="DBOS")
        axes.set_ylabel("seconds (p50)")
        axes.set_title("create -> complete of a 1-step workflow")
        axes.legend(fontsize=7)

    save("start_latency.png", draw_start)

    def draw_throughput(axes: Any) -> None:
        ks = list(sizes.throughput_k)
        for suite, label in (("pyflow", "pyflow-actors"), ("dbos", "DBOS")):
            values = [
                get(find(records, suite, "throughput", k=k), "instances_per_second") for k in ks
            ]
            if any(v is not None for v in values):
                axes.plot(ks, [v or 0 for v in values], marker="o", label=label)
        axes.set_xscale("log", base=2)
        axes.set_xticks(ks, [str(k) for k in ks])
        axes.set_xlabel("concurrency limit K")
        axes.set_ylabel("instances / s")
        axes.set_title(f"{sizes.throughput_instances} instances x {sizes.throughput_steps} steps")
        if axes.get_lines():
            axes.legend(fontsize=7)

    save("throughput.png", draw_throughput)

    def draw_latency(axes: Any) -> None:
        labels, p50, p99 = [], [], []
        for state in ("live", "hibernated"):
            for transport in ("ray", "http"):
                record = find(records, "pyflow", "event_latency", state=state, transport=transport)
                labels.append(f"{state}\n{'handle' if transport == 'ray' else 'HTTP'}")
                p50.append(get(record, "seconds", "p50") or 0)
                p99.append(get(record, "seconds", "p99") or 0)
        dbos = find(records, "dbos", "event_latency")
        if dbos is not None:
            labels.append("DBOS\nrecv")
            p50.append(get(dbos, "seconds", "p50") or 0)
            p99.append(get(dbos, "seconds", "p99") or 0)
        xs = list(range(len(labels)))
        axes.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50")
        axes.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99")
        axes.set_xticks(xs, labels, fontsize=7)
        axes.set_ylabel("seconds")
        axes.set_title("send_event -> workflow resumes")
        axes.legend(fontsize=7)

    save("latency.png", draw_latency)

    concurrency = find(records, "pyflow", "concurrency")
    if concurrency is not None:

        def draw_concurrency(axes: Any) -> None:
            timeline = concurrency["timeline"]
            t = [s[0] for s in timeline]
            axes.step(t, [s[1] for s in timeline], where="post", label="running", linewidth=2.5)
            axes.step(t, [s[2] for s in timeline], where="post", label="waiting (hibernated)")
            axes.step(t, [s[3] for s in timeline], where="post", label="queued")
            axes.axhline(
                concurrency["k"], color="red", linestyle=":", linewidth=1, zorder=3, label="K"
            )
            axes.set_xlabel("seconds")
            axes.set_ylabel("instances")
            axes.set_title(f"concurrency limit K={concurrency['k']}")
            axes.legend(fontsize=7)

        save("concurrency.png", draw_concurrency)
    return written


def write_report(records: list[Record], sizes: Sizes, out: Path) -> list[Path]:
    table = rows(records, sizes)
    data = out / f"bench-{sizes.mode}.json"
    data.write_text(json.dumps({"records": records, "table": table}, indent=1, default=str))
    report = out / f"bench-{sizes.mode}.md"
    report.write_text(markdown(records, sizes, table))
    return [data, report, *plots(records, sizes, out)]
