"""Small measuring tools shared by every benchmark: percentiles, records, disk use."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = (len(data) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summary(values: Iterable[float], scale: float = 1.0) -> dict[str, float | int | None]:
    """p50, p99, mean, min, max and n of ``values`` (multiplied by ``scale``)."""
    data = [v * scale for v in values]
    if not data:
        return {"n": 0, "p50": None, "p99": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(data),
        "p50": percentile(data, 50),
        "p99": percentile(data, 99),
        "mean": sum(data) / len(data),
        "min": min(data),
        "max": max(data),
    }


def emit(record: dict[str, Any], sink: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Print ``record`` as one JSON line (the harness's progress output) and keep it."""
    print(json.dumps(record, default=_jsonable), flush=True)
    if sink is not None:
        sink.append(record)
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return repr(value)


def disk_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes that the files under ``path`` occupy on disk (allocated blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout:g}s")
        time.sleep(interval)


def log(message: str) -> None:
    """Progress for people, on stderr (stdout carries the JSON lines)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
