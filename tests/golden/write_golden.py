"""Write the golden journals of this release: ``python -m tests.golden.write_golden v1``.

Runs the workflows of ``workflows.py`` on the test harness with DuckDB
journals (the engine's files) and records what each journal holds in
``expected.json``. Run it once per journal format version, into a new folder.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pyflow_actors.storage.formats import CURRENT, JOURNAL
from pyflow_actors.testing import WorkflowHarness

from . import workflows

HERE = Path(__file__).parent
START = 1_800_000_000.0  # a fixed virtual time: 2027-01-15
CLASSES = {
    "everything": workflows.Everything,
    "failing": workflows.Failing,
    "sleeper": workflows.Sleeper,
}


async def write(folder: Path) -> list[dict[str, Any]]:
    harness = WorkflowHarness(journals=folder, start=START, time_skipping=False)
    harness.mock_event("approved", {"by": "golden"})
    recorded = []
    try:
        finished = [
            await harness.start(workflows.Everything, id="everything-1", params={"user": 7}),
            await harness.start(workflows.Failing, id="failing-1"),
        ]
        harness.time_skipping = True
        for run in finished:
            await run.wait()
        harness.time_skipping = False
        asleep = await harness.start(workflows.Sleeper, id="sleeper-1", params=None)
        await asleep.wait_for_status("waiting")
        for run in [*finished, asleep]:
            status = await run.status()
            recorded.append(
                {
                    "class": CLASSES[run.workflow].__name__,
                    "workflow": run.workflow,
                    "id": run.id,
                    "status": status.status.value,
                    "output": status.output,
                    "error": status.error.model_dump() if status.error else None,
                    "steps": [s.model_dump(mode="json") for s in await run.steps()],
                }
            )
    finally:
        await harness.aclose()
    return recorded


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else f"v{CURRENT[JOURNAL]}"
    folder = HERE / version
    if folder.exists():
        sys.exit(f"{folder} exists: golden journals are never rewritten, write a new version")
    recorded = asyncio.run(write(folder))
    (folder / "expected.json").write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(recorded)} golden journals to {folder}")


if __name__ == "__main__":
    main()
