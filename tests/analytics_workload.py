"""A known workload for the analytics tests: real journals written by the real
replay engine, and the registry rows that go with them.

``build_workload(root)`` runs, in workflow ``shop``:

- ``ok-1`` and ``ok-2``: step ``charge`` fails once then succeeds, sleep
  ``nap``, step ``ship``; complete;
- ``bad-1``: step ``charge`` fails for good (NonRetryableError); errored;
- ``gone``: terminated while queued (registry row only, no journal).

:data:`EXPECTED` is what the store must count for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from pyflow_actors import NonRetryableError, WorkflowEntrypoint
from pyflow_actors.engine import Execution, RunResult
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage.journal import DuckJournal, journal_path

FAST_RETRY = {"retries": {"limit": 2, "delay": 0.01, "backoff": "constant"}}


@dataclass
class Row:
    """The registry row fields that ingest reads (like ``InstanceRow``)."""

    workflow: str
    id: str
    status: str
    created_at: float
    generation: int = 1
    started_at: float | None = None
    ended_at: float | None = None


class Shop(WorkflowEntrypoint):
    async def run(self, event, step):
        tries = {"n": 0}

        @step.do("charge", config=FAST_RETRY)
        async def charge():
            tries["n"] += 1
            if event["payload"].get("fatal"):
                raise NonRetryableError("card declined", name="PaymentError")
            if tries["n"] == 1:
                raise ValueError("gateway timeout")
            return "charged"

        await charge()
        await step.sleep("nap", 0.01)
        return await step.do("ship")(lambda: "shipped")


def run_instance(root: Path, instance_id: str, payload: dict, *, generation: int = 1) -> Row:
    """Run one instance to its end on a DuckJournal, as the instance actor does."""
    created = time.time()
    path = journal_path(root, "shop", instance_id)

    async def go() -> RunResult:
        with DuckJournal(path) as journal:
            started = time.time()
            journal.set_meta(
                workflow="shop", instance_id=instance_id, params="{}", created_at=created,
                generation=generation, started_at=started,
            )  # fmt: skip
            event = WorkflowEvent(payload, dt.datetime.now(dt.timezone.utc), instance_id, "shop")
            outcome = await Execution(Shop(), event, journal, hibernate_after=5).run()
            if outcome.kind == "complete":
                result = RunResult("complete", output=outcome.output, ended_at=time.time())
            else:
                name, message = outcome.error or ("Error", "")
                result = RunResult(
                    "errored", error_name=name, error_message=message, ended_at=time.time()
                )
            journal.set_result(result)
            return result

    result = asyncio.run(go())
    return Row("shop", instance_id, result.status, created, generation, created, result.ended_at)


def build_workload(root: Path) -> list[Row]:
    rows = [
        run_instance(root, "ok-1", {}),
        run_instance(root, "ok-2", {}),
        run_instance(root, "bad-1", {"fatal": True}),
    ]
    now = time.time()
    rows.append(Row("shop", "gone", InstanceStatus.TERMINATED.value, now, ended_at=now + 0.5))
    return rows


EXPECTED = {
    "WORKFLOW_QUEUED": 4,
    "WORKFLOW_START": 3,
    "WORKFLOW_SUCCESS": 2,
    "WORKFLOW_FAILURE": 1,
    "WORKFLOW_TERMINATED": 1,
    "STEP_START": 5,
    "STEP_SUCCESS": 4,
    "STEP_FAILURE": 1,
    "SLEEP_START": 2,
    "SLEEP_COMPLETE": 2,
    "ATTEMPT_START": 7,
    "ATTEMPT_SUCCESS": 4,
    "ATTEMPT_FAILURE": 3,
}
