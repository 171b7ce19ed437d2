"""Turn the benchmark records into ``bench-<mode>.json``, ``.md`` and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .sizes import Sizes
from .table import START_PARTS, Record, find, fmt, get, rows


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
        f"{fmt(run.get('seconds'))} s.",
        "",
        "Ours in both placements: dedicated (one Ray actor per instance, the default) "
        "and shared (many instances per host actor); a workload not run shared shows "
        "a dash there. Ratios are ours / DBOS (for latencies and sizes lower is better "
        "for us, for rates higher is) and ours / a bare Ray actor create+call+kill.",
        "",
        "| workload | metric | unit | dedicated | shared | DBOS | dedicated/DBOS "
        "| shared/DBOS | dedicated/bare Ray | note |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in table:
        lines.append(
            f"| {row['workload']} | {row['metric']} | {row['unit']} | {fmt(row['pyflow'])} | "
            f"{fmt(row['shared'])} | {fmt(row['dbos'])} | {_ratio(row['ours_over_dbos'])} | "
            f"{_ratio(row['shared_over_dbos'])} | {_ratio(row['ours_over_bare_ray'])} | "
            f"{row['note']} |"
        )
    lines += [
        "",
        "Sizes: " + ", ".join(f"{k}={v}" for k, v in _sizes_run(records, sizes).items()),
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


def _sizes_run(records: list[Record], sizes: Sizes) -> dict[str, Any]:
    """The sizes the run recorded (a run older than a new size does not show it)."""
    recorded = next((r for r in records if r.get("suite") == "sizes"), None)
    if recorded is None:
        return {k: v for k, v in sizes.as_dict().items() if k != "mode"}
    return {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in recorded.items()
        if k not in ("suite", "workload", "mode")
    }


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
        bottom = 0.0
        for label, key in START_PARTS:
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
