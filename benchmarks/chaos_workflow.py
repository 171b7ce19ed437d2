"""The workflow the chaos soak runs (importable by Ray workers: ``benchmarks.chaos_workflow``).

Every step attempt appends one fsynced line ``<instance> step-<i>`` to the
ledger before it returns, so the checker can count how often each step ran.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.step import WorkflowStep


def append_line(path: str, line: str) -> None:
    """Append one line durably (what the checker reads)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def expected_output(steps: int, events: list[Any]) -> dict[str, Any]:
    """What an instance must return: the sum of its step numbers, its events in order."""
    return {"total": sum(range(steps)), "events": events}


class ChaosFlow(WorkflowEntrypoint):
    """params: {ledger, steps, step_seconds, sleep?, events?}.

    Runs ``steps`` steps (a sleep after the first when ``sleep``), then waits
    for ``events`` events of type ``item``, one wait each, and returns them.
    """

    async def run(self, event: Any, step: WorkflowStep) -> dict[str, Any]:
        p = event["payload"]
        total = 0
        for i in range(p["steps"]):

            @step.do(f"step-{i}", config={"retries": {"limit": 3, "delay": "100 milliseconds"}})
            async def work(i: int = i) -> int:
                append_line(p["ledger"], f"{event['instanceId']} step-{i}")
                await asyncio.sleep(p.get("step_seconds", 0.1))
                return i

            total += await work()
            if p.get("sleep") and i == 0:
                await step.sleep("nap", f"{p['sleep']} seconds")
        got = []
        for n in range(p.get("events", 0)):
            received = await step.wait_for_event(f"item-{n}", "item", timeout="30 minutes")
            got.append(received["payload"])
        return {"total": total, "events": got}
