"""Workflows the benchmarks run (importable by Ray workers: ``benchmarks.workflows``)."""

from __future__ import annotations

import asyncio
import hashlib
import time

from pyflow_actors import WorkflowEntrypoint


def burn_cpu(seconds: float) -> int:
    """Hash in a loop for about ``seconds`` of CPU (a CPU-bound step)."""
    deadline = time.perf_counter() + seconds
    digest, rounds = b"pyflow", 0
    while time.perf_counter() < deadline:
        digest = hashlib.sha256(digest).digest()
        rounds += 1
    return rounds


class NoopSteps(WorkflowEntrypoint):
    """params: {steps, pause?}: that many sequential no-op steps, after ``pause``
    seconds (default 0: the engine's work around this instance's start is over
    before the loop, see ``Sizes.steps_pause``); returns the loop's seconds.

    The timer and the pause are outside any step, so they are only meaningful on
    a first run (no replay), which is what the benchmarks do.
    """

    async def run(self, event, step):
        await asyncio.sleep(float(event["payload"].get("pause", 0)))
        began = time.perf_counter()
        for i in range(int(event["payload"]["steps"])):
            await step.do(f"noop {i}")(lambda i=i: i)
        return time.perf_counter() - began


class Sleeper(WorkflowEntrypoint):
    """params: {until}: one step, then sleep until the epoch time ``until``; return lateness."""

    async def run(self, event, step):
        await step.do("before")(lambda: None)
        await step.sleep_until("nap", float(event["payload"]["until"]))
        return await step.do("woke")(time.time)


class Waiter(WorkflowEntrypoint):
    """One step, then wait for an event ``go``; return when the wait returned."""

    async def run(self, event, step):
        await step.do("before")(lambda: None)
        await step.wait_for_event("wait", "go", timeout="1 hour")
        return await step.do("resumed")(time.time)


class Mixed(WorkflowEntrypoint):
    """params: {kind, cpu, sleep}: a CPU step, then a sleep or an event wait, then a CPU step.

    ``kind`` is ``cpu`` (two CPU steps), ``sleep`` or ``wait`` (for event ``go``).
    Each step reports when it ran so the harness can check slot discipline.
    """

    async def run(self, event, step):
        p = event["payload"]
        first = await step.do("cpu 1")(lambda: {"at": time.time(), "n": burn_cpu(p["cpu"])})
        if p["kind"] == "sleep":
            await step.sleep("sleep", p["sleep"])
        elif p["kind"] == "wait":
            await step.wait_for_event("wait", "go", timeout="1 hour")
        second = await step.do("cpu 2")(lambda: {"at": time.time(), "n": burn_cpu(p["cpu"])})
        return {"first": first["at"], "second": second["at"]}


class Blocker(WorkflowEntrypoint):
    """params: {seconds}: one step that holds its running slot that long.

    Registered with a per-workflow limit of 1, it keeps every other instance of
    its workflow queued: the creates-alone benchmark measures creation only.
    """

    async def run(self, event, step):
        @step.do("hold the slot", config={"timeout": "1 hour"})
        async def hold():
            await asyncio.sleep(float(event["payload"]["seconds"]))

        await hold()


class WhereAmI(WorkflowEntrypoint):
    """params: {sleep}: report the node of a step, sleep (hibernating), report it again."""

    async def run(self, event, step):
        import ray

        def node() -> str:
            return ray.get_runtime_context().get_node_id()

        first = await step.do("node before")(node)
        await step.sleep("nap", float(event["payload"]["sleep"]))
        second = await step.do("node after")(node)
        return {"before": first, "after": second}


class ProcessCpu(WorkflowEntrypoint):
    """One step returning the CPU-s its process has used so far: in the dedicated
    placement, what the instance's own actor process cost up to its first step
    (a whole-tree count misses workers that exited and were reaped unwaited)."""

    async def run(self, event, step):
        return await step.do("cpu")(time.process_time)


BENCH_WORKFLOWS = {
    "noop": NoopSteps,
    "cpu": ProcessCpu,
    "sleeper": Sleeper,
    "waiter": Waiter,
    "mixed": Mixed,
}
# Only the creates-alone benchmark uses these (one running at a time).
BLOCKER_WORKFLOW = "blocked"
