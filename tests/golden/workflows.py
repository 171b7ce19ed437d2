"""The workflows of the golden journals. Frozen: replaying a golden journal needs the
code that wrote it, so change nothing here; add new classes for new journals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyflow_actors import NonRetryableError, WaitForEventTimeout, WorkflowEntrypoint

# Names of the steps whose code ran in this process (a replay must add none).
STEP_RUNS: list[str] = []


def ran(name: str) -> int:
    STEP_RUNS.append(name)
    return STEP_RUNS.count(name)


class Everything(WorkflowEntrypoint):
    """Every kind of record: JSON outputs, a retried step, a caught failure, repeated
    names, concurrent dependencies, sleeps, a consumed event and a wait that timed out."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("fetch user")
        async def fetch_user() -> Any:
            ran("fetch user")
            return {"id": event["payload"]["user"], "tags": ["a", "b"], "score": 1.5, "gone": None}

        user = await fetch_user()

        @step.do("flaky", config={"retries": {"limit": 2, "delay": "5 seconds"}})
        async def flaky() -> str:
            if ran("flaky") < 2:
                raise ConnectionError("the first attempt fails")
            return "the second attempt works"

        second = await flaky()

        @step.do("refuse", config={"retries": {"limit": 0}})
        async def refuse() -> None:
            ran("refuse")
            raise NonRetryableError("not today", name="Refused")

        try:
            await refuse()
        except Exception as exc:  # noqa: BLE001 - the golden journal records a caught failure
            refused = f"{type(exc).__name__}: {exc}"

        counts = [await step.do("count")(lambda i=i: ran("count") and i) for i in range(3)]

        @step.do("left")
        def left() -> int:
            ran("left")
            return 1

        @step.do("right")
        def right() -> int:
            ran("right")
            return 2

        @step.do("join", depends=[left, right], concurrent=True)
        async def join(a: int, b: int) -> int:
            ran("join")
            return a + b

        total = await join()
        await step.sleep("nap", "1 day")
        await step.sleep_until("until", event["timestamp"] + dt.timedelta(days=2))
        approval = await step.wait_for_event("approval", "approved", timeout="1 hour")
        try:
            await step.wait_for_event("never", "never", timeout="1 minute")
            timed_out = False
        except WaitForEventTimeout:
            timed_out = True
        return {
            "user": user,
            "second": second,
            "refused": refused,
            "counts": counts,
            "total": total,
            "approved_by": approval["payload"]["by"],
            "timed_out": timed_out,
        }


class Failing(WorkflowEntrypoint):
    """Ends errored: a step whose retries run out."""

    async def run(self, event: Any, step: Any) -> Any:
        @step.do("doomed", config={"retries": {"limit": 1, "delay": "1 minute"}})
        async def doomed() -> None:
            ran("doomed")
            raise ValueError("always broken")

        await doomed()


class Sleeper(WorkflowEntrypoint):
    """Left unfinished in its journal: asleep for 30 days after its first step."""

    async def run(self, event: Any, step: Any) -> Any:
        before = await step.do("before")(lambda: ran("before") and "done before")
        await step.sleep("a month", "30 days")
        after = await step.do("after")(lambda: ran("after") and "done after")
        return [before, after]
