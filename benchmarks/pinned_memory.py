"""Memory a shared instance pre-activated ahead of its alarm holds in its host.

A host (in this process, no Ray) runs N ``sleeper`` instances (a step, then a
sleep until a moment well ahead) to their sleep, where they hibernate; then
takes them all back pinned live until then, as the supervisor's pre-activation
does (``runtime/supervisor/preactivation.py``): journal attached to the host's
DuckDB instance, workflow replayed to its wait. The
process's USS before and after, per instance, is what ``config.PREACTIVATED_BYTES``
(the budget ``shared_preactivated``'s default) is derived from.

    .venv/bin/python -m benchmarks.pinned_memory --instances 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.runtime.host import InstanceHost
from pyflow_actors.runtime.protocol import InstanceSetup, RunRequest

from .measure import emit
from .workflows import Sleeper


def _uss() -> int:
    gc.collect()
    return int(psutil.Process().memory_full_info().uss)


async def measure(storage: Path, n: int) -> dict[str, Any]:
    host = InstanceHost("pinned-memory")
    until = time.time() + 3600.0
    spec = WorkflowSpec.of("sleeper", Sleeper)

    def setup(instance_id: str, live_until: float | None) -> InstanceSetup:
        return InstanceSetup(
            workflow="sleeper",
            instance_id=instance_id,
            journal_path=str(storage / "journals" / "sleeper" / f"{instance_id}.duckdb"),
            spec=spec,
            bindings={},
            vars={},
            hibernate_after=1.0,
            limits=DEFAULT_LIMITS,
            code_paths=(),
            namespace="pinned-memory",
            supervisor_name="none",
            live_until=live_until,
        )

    request = RunRequest(1, f'{{"until": {until}}}', time.time())
    # First run: each reaches its sleep and hibernates (its host lets it go), as
    # every instance the supervisor pre-activates has.
    ids = [f"i{i}" for i in range(n)]
    for chunk in range(0, n, 100):
        await asyncio.gather(
            *(host.run_placed(setup(i, None), "first", request) for i in ids[chunk : chunk + 100])
        )
    await _let_go(host)
    before = _uss()
    runs = [
        asyncio.ensure_future(host.run_placed(setup(i, until + 5.0), uuid.uuid4().hex, request))
        for i in ids
    ]
    while len(host.pinned()) < n or any(r._wait is None for r in host._runners.values()):
        await asyncio.sleep(0.1)
    after = _uss()
    for run in runs:
        run.cancel()
    await host.close()
    return {
        "suite": "pinned_memory",
        "instances": n,
        "uss_bytes_per_pinned_instance": round((after - before) / n),
        "uss_bytes_before": before,
        "uss_bytes_after": after,
    }


async def _let_go(host: InstanceHost) -> None:
    while host.keys() or host._evicting:
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pinned_memory")
    parser.add_argument("--instances", type=int, default=2000)
    args = parser.parse_args(argv)
    storage = Path(tempfile.mkdtemp(prefix="pyflow-pinned-"))
    try:
        emit(asyncio.run(measure(storage, args.instances)))
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
