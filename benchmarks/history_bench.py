"""Disk per finished instance, and what folding it into the history store costs.

No Ray: N instances of 1 and of 3 steps are run by the real replay engine over
real DuckDB journals, stamped as an instance actor stamps them, and ended.
Measured, per instance:

* before the fold: what a finished instance kept until its retention expired,
  its journal file and sidecars (``journal_disk_bytes_per_instance``);
* after the fold: what it keeps now, the growth of ``history.duckdb`` (after a
  CHECKPOINT) plus any file left under ``journals/``
  (``finished_disk_bytes_per_instance``);
* the fold's cost: wall time and CPU time of ``HistoryStore.fold`` in the
  supervisor's batches (``fold_ms_per_instance``, ``fold_cpu_ms_per_instance``).

Sizes are allocated blocks (``du``), as the other disk figures. The registry
row (~1 KB, the same before and after) is measured by the hibernation workload.

.. code-block:: sh

    .venv/bin/python -m benchmarks.history_bench --instances 500
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pyflow_actors.engine import Execution, RunResult
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor.history import FOLD_BATCH
from pyflow_actors.storage.history import HISTORY_FILE, HistoryStore
from pyflow_actors.storage.journal import DuckJournal, journal_path
from pyflow_actors.storage.registry import InstanceRow

from .measure import disk_bytes, emit, log
from .workflows import NoopSteps

WORKFLOW = "noop"


def finish_instance(root: Path, steps: int) -> InstanceRow:
    """One instance run to its end by the engine, its journal as an actor leaves it."""
    instance_id = str(uuid.uuid4())
    created = time.time()
    with DuckJournal(journal_path(root, WORKFLOW, instance_id)) as journal:
        journal.set_meta(
            workflow=WORKFLOW, instance_id=instance_id, params=f'{{"steps":{steps}}}',
            created_at=created, generation=1, version_id="v" + "0" * 11, schedule=None,
        )  # fmt: skip
        journal.set_meta(started_at=created)
        event = WorkflowEvent({"steps": steps}, dt.datetime.now(dt.timezone.utc), instance_id, "x")
        outcome = asyncio.run(Execution(NoopSteps(), event, journal, hibernate_after=5).run())
        ended = time.time()
        journal.set_result(RunResult(InstanceStatus.COMPLETE, outcome.output, ended_at=ended))
    return InstanceRow(
        WORKFLOW, instance_id, InstanceStatus.COMPLETE, f'{{"steps":{steps}}}', created,
        started_at=created, ended_at=ended, output=outcome.output, version_id="v" + "0" * 11,
    )  # fmt: skip


def history_bytes(root: Path) -> int:
    """The store's file and its WAL, allocated blocks."""
    return sum(p.stat().st_blocks * 512 for p in root.glob(HISTORY_FILE + "*"))


def journal_sizes(root: Path) -> tuple[int, int]:
    """Allocated blocks and apparent size of every file under ``journals/``."""
    files = [p for p in (root / "journals").rglob("*") if p.is_file()]
    return disk_bytes(root / "journals"), sum(p.stat().st_size for p in files)


def measure(root: Path, instances: int, steps: int) -> dict[str, Any]:
    """Fold ``instances`` finished instances of ``steps`` steps into ``root``'s store."""
    store = HistoryStore(root)
    with store.session() as session:  # the store as it stands (maybe empty), checkpointed
        session.write([], time.time())
    before_store = history_bytes(root)
    rows = [finish_instance(root, steps) for _ in range(instances)]
    journals, apparent = journal_sizes(root)
    wall = cpu = 0.0
    for chunk in range(0, instances, FOLD_BATCH):
        began, began_cpu = time.perf_counter(), time.process_time()
        store.fold(rows[chunk : chunk + FOLD_BATCH])
        wall += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    with store.session() as session:
        session.checkpoint()
    grown = history_bytes(root) - before_store
    left = disk_bytes(root / "journals")
    return {
        "suite": "pyflow",
        "workload": "history",
        "instances": instances,
        "steps": steps,
        "journal_disk_bytes_per_instance": journals / instances,
        "journal_apparent_bytes_per_instance": apparent / instances,
        "history_disk_bytes_per_instance": grown / instances,
        "leftover_journal_bytes_per_instance": left / instances,
        "finished_disk_bytes_per_instance": (grown + left) / instances,
        "fold_ms_per_instance": wall * 1000 / instances,
        "fold_cpu_ms_per_instance": cpu * 1000 / instances,
    }


def run(instances: int, storage: Path, records: list[dict[str, Any]]) -> None:
    """Both sizes of instance, each in a store of its own, then both in one."""
    for steps in (1, 3):
        log(f"pyflow: disk per finished instance ({instances} x {steps} step(s))")
        emit(measure(storage / f"history-{steps}", instances, steps), records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        run(args.instances, Path(folder), [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
