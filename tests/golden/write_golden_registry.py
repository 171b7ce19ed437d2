"""Write the golden registry of this release: ``python -m tests.golden.write_golden_registry``.

Writes ``registry/v<N>/registry.duckdb.gz`` (N: the registry format this release
writes; gzipped: DuckDB's empty blocks make the file ~2.9 MB, ~7 KB compressed) with one instance row per status a registry keeps across a restart, an
event waiting in the inbox, a registered workflow and a cron fire, and records
them in ``expected.json``. Run it once per registry format version; never
rewrite an existing folder (``tests/unit/test_golden_registry.py`` opens them all).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage.formats import CURRENT, REGISTRY
from pyflow_actors.storage.registry import InboxEvent, InstanceRow, Registry

HERE = Path(__file__).parent / "registry"
START = 1_800_000_000.0  # a fixed time: 2027-01-15


def rows() -> list[InstanceRow]:
    def row(instance_id: str, status: InstanceStatus, **fields: Any) -> InstanceRow:
        return InstanceRow("golden", instance_id, status, '{"n": 1}', START, **fields)

    made = [
        row("queued-1", InstanceStatus.QUEUED, queue_seq=1, request_id="create-1"),
        row("paused-1", InstanceStatus.PAUSED, paused_from=InstanceStatus.WAITING,
            wake_at=START + 60, waiting_for=["approved"], started_at=START + 1),
        row("terminated-1", InstanceStatus.TERMINATED, started_at=START + 1,
            ended_at=START + 2, terminated_by="api", generation=2),
        row("complete-1", InstanceStatus.COMPLETE, started_at=START + 1,
            ended_at=START + 3, output='"done"', version_id="v-golden"),
    ]  # fmt: skip
    for made_row in made:  # format 2: the request id of the last control applied
        made_row.control_request_id = f"control-{made_row.id}"
    return made


def write(folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        expected = _write(Path(scratch))
        raw = (Path(scratch) / "registry.duckdb").open("rb")
        with raw, gzip.GzipFile(folder / "registry.duckdb.gz", "wb", mtime=0) as packed:
            shutil.copyfileobj(raw, packed)
    return expected


def _write(folder: Path) -> dict[str, Any]:
    registry = Registry(folder)
    try:
        made = rows()
        registry.insert(made)
        event = InboxEvent("event-1", "golden", "paused-1", "approved", '{"ok": true}', START + 5)
        registry.add_event(event)
        registry.upsert_workflow("golden", "GOLDEN", "Golden", b"{}", START, START)
        registry.claim_cron_fire("workflow:golden", "0 * * * *", START)
    finally:
        registry.close()
    return {
        "format_version": CURRENT[REGISTRY],
        "instances": [_json(dataclasses.asdict(r)) for r in made],
        "inbox": [dataclasses.asdict(event)],
        "workflows": ["golden"],
    }


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, InstanceStatus) else v for k, v in values.items()}


def main() -> None:
    folder = HERE / f"v{CURRENT[REGISTRY]}"
    if folder.exists():
        sys.exit(f"{folder} exists: a golden registry is never rewritten")
    expected = write(folder)
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote the golden registry of format {CURRENT[REGISTRY]} to {folder}")


if __name__ == "__main__":
    main()
