"""Workflows the runtime, API and fault tests share (importable by Ray workers)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pyflow_actors import NonRetryableError, WaitForEventTimeout, WorkflowEntrypoint


def append_line(path: str, line: str) -> None:
    """Append one line durably (the ledger the tests read)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def ledger_lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


class Echo(WorkflowEntrypoint):
    async def run(self, event, step):
        value = await step.do("echo")(lambda: event["payload"])
        return {"echo": value, "instance": event["instanceId"], "workflow": event["workflowName"]}


class Ledger(WorkflowEntrypoint):
    """params: {ledger, steps, step_seconds, sleep?, wait_for?}: each step appends a line."""

    async def run(self, event, step):
        p = event["payload"]
        total = 0
        for i in range(p.get("steps", 3)):

            @step.do(f"step-{i}")
            async def work(i=i):
                append_line(p["ledger"], f"{event['instanceId']} step-{i}")
                await asyncio.sleep(p.get("step_seconds", 0.05))
                return i

            total += await work()
            if p.get("sleep") and i == 0:
                await step.sleep("nap", p["sleep"])
            if p.get("wait_for") and i == 0:
                got = await step.wait_for_event(
                    "wait", p["wait_for"], timeout=seconds(p.get("timeout", 60))
                )
                total += got["payload"]["add"]
        return total


def seconds(value: float | str) -> str:
    """A params timeout in seconds as a duration string (a bare number would be milliseconds)."""
    return value if isinstance(value, str) else f"{value} seconds"


class Waiter(WorkflowEntrypoint):
    """params: {type, timeout, catch}: waits for one event; returns its payload."""

    async def run(self, event, step):
        p = event["payload"] or {}
        try:
            got = await step.wait_for_event(
                "wait", p.get("type", "go"), timeout=seconds(p.get("timeout", 60))
            )
        except WaitForEventTimeout:
            if p.get("catch"):
                return "timed out"
            raise
        return got["payload"]


class Flaky(WorkflowEntrypoint):
    """Fails its step `fail_times` times (counted in a ledger), retries with small delays."""

    async def run(self, event, step):
        p = event["payload"]

        @step.do(
            "flaky",
            config={"retries": {"limit": p.get("limit", 3), "delay": 50, "backoff": "constant"}},
        )
        def flaky():
            append_line(p["ledger"], "attempt")
            n = len(Path(p["ledger"]).read_text().splitlines())
            if p.get("non_retryable"):
                raise NonRetryableError("no point retrying", name="Fatal")
            if n <= p.get("fail_times", 0):
                raise ConnectionError(f"attempt {n} failed")
            return n

        return await flaky()


class Parent(WorkflowEntrypoint):
    async def run(self, event, step):
        child = await step.do("start child")(
            lambda: self.env.ECHO.create(params={"from": event["instanceId"]})
        )
        return {
            "child": child["id"],
            "greeting": self.env.GREETING if "GREETING" in self.env else None,
        }


class Timed(WorkflowEntrypoint):
    """params: {ledger}: records when it ran, to check ordering under the concurrency limit."""

    async def run(self, event, step):
        p = event["payload"]
        if p.get("sleep"):
            await step.sleep("sleep", p["sleep"])

        @step.do("work")
        async def work():
            append_line(p["ledger"], f"{event['instanceId']} start {time.time()}")
            await asyncio.sleep(p.get("seconds", 0.5))
            append_line(p["ledger"], f"{event['instanceId']} end {time.time()}")
            return True

        return await work()


class Collector(WorkflowEntrypoint):
    """params: {n, type?, ledger?}: waits for `n` events, one wait each; returns their payloads."""

    async def run(self, event, step):
        p = event["payload"]
        got = []
        for _ in range(p["n"]):
            received = await step.wait_for_event(
                "item", p.get("type", "item"), timeout="300 seconds"
            )
            got.append(received["payload"])
        if p.get("ledger"):
            await step.do("record")(
                lambda: append_line(p["ledger"], f"{event['instanceId']} collected {len(got)}")
            )
        return got


class Producer(WorkflowEntrypoint):
    """params: {kind, duration?}: a step returns something hostile, or sleeps for `duration`."""

    async def run(self, event, step):
        p = event["payload"]
        kind = p["kind"]
        if kind == "sleep":
            await step.sleep("nap", p["duration"])
            return "slept"
        if kind == "huge-result":
            return "r" * (2 << 20)  # run()'s own output over the 1 MiB limit
        make = {
            "huge": lambda: "x" * (2 << 20),
            "object": lambda: object(),
            "set": lambda: {1, 2},
            "nan": lambda: float("nan"),
            "deep": lambda: _nested(5000),
        }[kind]
        return await step.do("make")(make)


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class Blocker(WorkflowEntrypoint):
    """params: {seconds, sync}: one step that blocks its thread for `seconds` (time.sleep).

    Sync (``sync: true``) the engine runs it in a thread; async it blocks the
    event loop it runs on (what a shared host's loop watch must catch).
    """

    async def run(self, event, step):
        p = event["payload"]
        if p.get("sync"):

            @step.do("block")
            def block():
                time.sleep(p["seconds"])
                return "slept"

        else:

            @step.do("block")
            async def block():
                time.sleep(p["seconds"])  # blocks the loop on purpose
                return "slept"

        return await block()


class Saga(WorkflowEntrypoint):
    """params: {ledger, fail?, wait_for?, gate?}: books a flight, a hotel and a car,
    each with a rollback handler; then waits for ``wait_for`` (if given) and fails
    (if ``fail``). Steps append "do <name>" to the ledger, handlers "undo <name>".
    With ``gate`` (a path), the hotel's handler waits until that file exists."""

    async def run(self, event, step):
        p = event["payload"]
        me = event["instanceId"]

        def undo(name: str):
            async def handler(output, error):
                if name == "hotel" and p.get("gate"):
                    append_line(p["ledger"], f"{me} undoing hotel")
                    while not os.path.exists(p["gate"]):
                        await asyncio.sleep(0.05)
                append_line(p["ledger"], f"{me} undo {name} {output} {type(error).__name__}")

            return handler

        slow = {"retries": {"limit": 1, "delay": "1 second"}, "timeout": "2 minutes"}
        for name in ("flight", "hotel", "car"):

            def book(name=name):
                append_line(p["ledger"], f"{me} do {name}")
                return f"{name}-ok"

            await step.do(name, book, rollback=undo(name), rollback_config=slow)
        await step.do("receipt", lambda: "no undo")
        if p.get("wait_for"):
            await step.wait_for_event("confirm", p["wait_for"], timeout="10 minutes")
        if p.get("fail"):
            raise ValueError("payment declined")
        return "booked"
