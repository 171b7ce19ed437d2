"""``python -m benchmarks [--quick | --full]``: every workload, then the report.

pyflow-actors runs in this process on a Ray of its own; DBOS and the
multi-node cluster each run in a subprocess. Every record is printed as a
JSON line as it is measured; at the end ``results/bench-<mode>.json``, the
markdown report ``results/bench-<mode>.md`` and PNG plots are written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from .measure import emit, log
from .sizes import MODES, PYFLOW_WORKLOADS, Sizes

RESULTS = Path(__file__).resolve().parent / "results"
ALL_WORKLOADS = (*PYFLOW_WORKLOADS, "dbos", "cluster")
REPO_ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    import psutil

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "suite": "machine",
        "workload": "machine",
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "ray": version("ray"),
        "duckdb": version("duckdb"),
        "dbos": version("dbos"),
        "platform": platform.platform(),
    }


def run_subprocess(args: list[str], records: list[dict[str, Any]], log_file: Path) -> None:
    """Run ``python -m ARGS`` and keep the JSON lines it prints; its stderr goes to log_file."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    with log_file.open("a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            if line.startswith("{"):
                record = json.loads(line)
                if "suite" in record:
                    emit(record, records)
        code = process.wait()
    if code != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed (exit {code}); see {log_file}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (under 5 minutes)")
    size.add_argument("--full", action="store_true", help="100,000 hibernating instances")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--only",
        help=f"comma-separated workloads to run, of: {','.join(ALL_WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SIZE=N",
        help="override a size, e.g. --set hibernating=1000 or --set alarm_counts=30+300 "
        "or --set placements=shared (see benchmarks/sizes.py)",
    )
    args = parser.parse_args(argv)
    sizes: Sizes = MODES["quick" if args.quick else "full" if args.full else "default"]
    only = frozenset(args.only.split(",")) if args.only else None
    if only is not None and not only <= set(ALL_WORKLOADS):
        parser.error(f"unknown workload(s) {sorted(only - set(ALL_WORKLOADS))}")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in sizes.as_dict() or key in ("mode", "throughput_k"):
            parser.error(f"--set {item}: no such size")
        default = sizes.as_dict()[key]  # a list is given as 30+300 (or dedicated+shared)
        overrides[key] = (
            tuple(type(default[0])(v) for v in value.split("+"))
            if isinstance(default, tuple)
            else int(value)
        )
    if overrides:
        label = "-".join(
            f"{k}{'+'.join(map(str, v)) if isinstance(v, tuple) else v}"
            for k, v in sorted(overrides.items())
        )
        sizes = replace(sizes, mode=f"{sizes.mode}-{label}", **overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    began = time.time()
    emit(machine(), records)
    emit({"suite": "sizes", "workload": "sizes", **sizes.as_dict()}, records)
    work = Path(tempfile.mkdtemp(prefix="pyflow-bench-"))
    log_file = args.out / f"bench-{sizes.mode}.log"
    log_file.write_text("")
    try:
        from . import pyflow_bench

        if only is None or only & set(PYFLOW_WORKLOADS):
            pyflow_bench.run(sizes, work / "pyflow", records, only)
        if only is None or "dbos" in only:
            log("dbos: starting the peer in a subprocess")
            run_subprocess(
                [
                    "benchmarks.dbos_bench",
                    json.dumps(asdict(sizes)),
                    str(work / "dbos"),
                    json.dumps(sorted((only or set()) - {"dbos", "cluster"} or PYFLOW_WORKLOADS)),
                ],
                records,
                log_file,
            )
        if only is None or "cluster" in only:
            for nodes in (1, 3):
                log(f"cluster: throughput on {nodes} node(s)")
                run_subprocess(
                    [
                        "benchmarks.cluster_bench",
                        "throughput",
                        str(nodes),
                        str(sizes.cluster_instances),
                        str(work / f"cluster-{nodes}"),
                    ],
                    records,
                    log_file,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(
        {
            "suite": "machine",
            "workload": "run",
            "seconds": time.time() - began,
            "load_average_at_end": os.getloadavg(),
        },
        records,
    )
    from .report import write_report

    paths = write_report(records, sizes, args.out)
    shown = [p.relative_to(REPO_ROOT) if p.is_relative_to(REPO_ROOT) else p for p in paths]
    log(f"wrote {', '.join(str(p) for p in shown)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
