"""The workflow the chaos soak runs (importable by Ray workers: ``benchmarks.chaos.workflow``).

Every step attempt appends one fsynced line ``<instance> step-<i> <machine
time>`` to the ledger before it returns, so the checker can count how often
each step ran and when. An instance that sleeps records, in a step after the
sleep, when it was due on the engine's clock and when it woke on the
machine's (``<instance> woke <due> <machine time>``): the soak shifts the
engine's clock under pending alarms, and the checker knows every shift.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine.clock import SYSTEM_CLOCK
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


def ran_before(path: str, line: str) -> bool:
    """Whether the ledger already holds ``line`` (an earlier attempt of the step)."""
    try:
        with open(path) as ledger:
            return any(entry.startswith(line + " ") for entry in ledger)
    except FileNotFoundError:
        return False


class ChaosFlow(WorkflowEntrypoint):
    """params: {ledger, steps, step_seconds, sleep?, events?, flaky?}.

    Runs ``steps`` steps (after the first, when ``sleep``, a sleep until a due
    time on the engine's clock); the step numbered ``flaky`` fails its first
    attempt (a retry). Then it waits for ``events`` events of type ``item``,
    one wait each, and returns them.
    """

    async def run(self, event: Any, step: WorkflowStep) -> dict[str, Any]:
        p = event["payload"]
        me, ledger = event["instanceId"], p["ledger"]
        total = 0
        for i in range(p["steps"]):

            @step.do(f"step-{i}", config={"retries": {"limit": 3, "delay": "100 milliseconds"}})
            async def work(i: int = i) -> int:
                line = f"{me} step-{i}"
                first = p.get("flaky") == i and not ran_before(ledger, line)
                append_line(ledger, f"{line} {time.time():.3f}")
                await asyncio.sleep(p.get("step_seconds", 0.1))
                if first:
                    raise RuntimeError("flaky: the first attempt fails")
                return i

            total += await work()
            if p.get("sleep") and i == 0:
                await self._nap(step, me, ledger, float(p["sleep"]))
        got = []
        for n in range(p.get("events", 0)):
            # Longer than any soak: the workload sends events at random, the engine's
            # clock runs up to 10 min ahead, and a 38-minute run (seed 2028) timed two
            # instances out on the soak's own pace, not the engine's fault.
            received = await step.wait_for_event(f"item-{n}", "item", timeout="1 day")
            got.append(received["payload"])
        return {"total": total, "events": got}

    async def _nap(self, step: WorkflowStep, me: str, ledger: str, seconds: float) -> None:
        due = await step.do("due")(lambda: SYSTEM_CLOCK.now() + seconds)
        await step.sleep_until("nap", due)

        @step.do("woke")
        async def woke() -> None:
            append_line(ledger, f"{me} woke {due:.3f} {time.time():.3f}")

        await woke()
