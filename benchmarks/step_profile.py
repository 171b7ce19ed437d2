"""What one step of a dedicated instance costs, and what it is made of.

``python -m benchmarks.step_profile [--steps 200]`` runs a ``steps``-step no-op
instance through :class:`~pyflow_actors.runtime.runner.InstanceRunner` (the
runner a dedicated instance actor holds) in this process, against a real
journal file, and counts per step: the DuckDB commits and statements on the
journal's connection, the calls the runner would make to the supervisor (Ray
hops), and the wall and CPU time. Beside it, the floor measured the same way
at the same moment: the journal's per-step statement alone (the step's one
row, an autocommit INSERT) in a loop. No Ray: the actor around the
runner adds nothing per step (the supervisor's one call starts the run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.runtime.protocol import InstanceSetup, RunRequest
from pyflow_actors.runtime.runner import InstanceRunner
from pyflow_actors.storage.duck import GuardedConnection
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.journal_rows import INSERT_STEP

from .workflows import NoopSteps


def _counting(counts: Counter[str]) -> Any:
    """Patch the journal connection's ``execute`` to count statements and commits."""
    original = GuardedConnection.execute

    def execute(self: GuardedConnection, sql: str, params: Any = None) -> Any:
        counts["statements"] += 1
        counts["commits"] += sql.strip().upper() == "COMMIT"
        return original(self, sql, params)

    GuardedConnection.execute = execute  # type: ignore[method-assign]
    return original


def floor(folder: Path, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds per step of DuckDB's part alone: the step's one row
    (journal format 2), one autocommit ``INSERT`` on a journal of this tree, in a
    loop. What a step costs beyond it is the engine's Python."""
    journal = DuckJournal(folder / "floor.duckdb")
    db = journal._db
    row = ["noop", "step", 0, 1.0, "complete", 2.0, "1", None, None, "{}", None, None]
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        db.execute(INSERT_STEP, [f"noop {i}", *row])
    seconds = (time.perf_counter() - began) / steps
    cpu = (time.process_time() - cpu) / steps
    journal.close()
    return seconds, cpu


def noop_setup(folder: Path) -> InstanceSetup:
    """The instance both profiles run: ``NoopSteps`` with its journal under ``folder``."""
    return InstanceSetup(
        workflow="noop", instance_id="steps",
        journal_path=str(folder / "journals" / "noop" / "steps.duckdb"),
        spec=WorkflowSpec.of("noop", NoopSteps), bindings={}, vars={},
        hibernate_after=60.0, limits=DEFAULT_LIMITS, code_paths=(), namespace="profile",
        supervisor_name="none",
    )  # fmt: skip


def dedicated(folder: Path, steps: int) -> dict[str, Any]:
    setup = noop_setup(folder)
    counts: Counter[str] = Counter()
    runner = InstanceRunner(setup)
    told: list[str] = []

    async def tell(method: str, **details: Any) -> None:  # a Ray call to the supervisor
        told.append(method)

    runner._tell = tell  # type: ignore[method-assign]

    async def go() -> tuple[float, float, float]:
        await runner.prepare()  # what a warm actor has done before it is admitted
        original = _counting(counts)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            outcome = await runner.run(RunRequest(1, json.dumps({"steps": steps}), time.time()))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            GuardedConnection.execute = original  # type: ignore[method-assign]
            if runner._journal is not None:
                runner._journal.close()
        return float(outcome.output or "nan") / steps, wall / steps, cpu / steps

    loop, wall, cpu = asyncio.run(go())
    return {
        "steps": steps,
        "commits_per_step": counts["commits"] / steps,
        "statements_per_step": counts["statements"] / steps,
        "supervisor_calls_per_step": len(told) / steps,
        "ms_per_step_in_run": round(loop * 1000, 3),
        "ms_per_step_whole_run": round(wall * 1000, 3),
        "cpu_ms_per_step_whole_run": round(cpu * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_profile", description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyflow-steps-") as work:
        folder = Path(work)
        record = dedicated(folder, args.steps)
        wall, cpu = floor(folder, args.steps)
        record["floor_ms_per_step"] = round(wall * 1000, 3)
        record["floor_cpu_ms_per_step"] = round(cpu * 1000, 3)
        record["ratio_to_floor"] = round(
            record["ms_per_step_in_run"] / record["floor_ms_per_step"], 2
        )
    print(json.dumps({"suite": "step_profile", "workload": "dedicated_steps", **record}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
