"""What a workflow prints: captured per instance, prefixed, bounded, read back.

The engine runs in-process here (no Ray): :func:`instance_logs.instance_scope`
is what the instance actor wraps around a run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import io
import logging
import sys

import pytest

from pyflow_actors import WorkflowEntrypoint, instance_logs
from pyflow_actors.engine import Execution, MemoryJournal, Outcome
from pyflow_actors.entrypoint import WorkflowEvent
from tests.conftest import wait_for


@pytest.fixture
def captured():
    """Capture undone after the test (installed inside it: pytest swaps sys.stdout
    between a test's setup and its call)."""
    try:
        yield
    finally:
        instance_logs.uninstall()


def run_workflow(storage, workflow, instance_id: str = "i-1", journal=None) -> Outcome:
    journal = journal if journal is not None else MemoryJournal()

    instance_logs.install()

    async def go() -> Outcome:
        event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), instance_id, "wf")
        with instance_logs.instance_scope(storage, "wf", instance_id):
            execution = Execution(workflow, event, journal, hibernate_after=1)
            return await asyncio.wait_for(execution.run(), timeout=10)

    return asyncio.run(go())


def messages(storage, instance_id: str = "i-1") -> list[tuple[str | None, str, str]]:
    logs = instance_logs.read(storage, "wf", instance_id)
    return [(line.step, line.stream, line.message) for line in logs.lines]


class Chatty(WorkflowEntrypoint):
    async def run(self, event, step):
        print("starting")

        @step.do("dep1")
        async def dep1():
            print("executing dep1")
            return 1

        @step.do("dep2")
        def dep2():  # sync: runs in a thread, still knows its step
            print("executing dep2")
            logging.getLogger("user.code").info("a log record")
            return 2

        await asyncio.gather(dep1(), dep2())
        print("oops", file=sys.stderr)
        return "done"


def test_print_and_logging_in_run_and_steps_are_kept_with_their_step(tmp_path, captured):
    outcome = run_workflow(tmp_path, Chatty())
    assert outcome.kind == "complete"
    assert sorted(messages(tmp_path), key=str) == sorted(
        [
            (None, "stdout", "starting"),
            ("dep1", "stdout", "executing dep1"),
            ("dep2", "stdout", "executing dep2"),
            ("dep2", "log", "user.code: a log record"),
            (None, "stderr", "oops"),
        ],
        key=str,
    )
    levels = {line.level for line in instance_logs.read(tmp_path, "wf", "i-1").lines}
    assert levels == {None, "INFO"}


def test_each_line_reaches_the_console_prefixed_and_never_merged(tmp_path, captured):
    class Repeats(WorkflowEntrypoint):
        async def run(self, event, step):
            for n in range(3):
                await step.do(f"dep{n}")(lambda: print("executing dep"))

    run_workflow(tmp_path, Repeats(), "abc")
    console = instance_logs.console_path(tmp_path).read_text().splitlines()
    assert console == [
        "wf/abc [dep0] executing dep",
        "wf/abc [dep1] executing dep",
        "wf/abc [dep2] executing dep",
    ]


def test_partial_writes_become_one_line_and_unbound_output_passes_through(tmp_path, captured):
    class Partial(WorkflowEntrypoint):
        async def run(self, event, step):
            print("a", end="")
            print("b", end="")
            print("c")
            print("tail without newline", end="")

    run_workflow(tmp_path, Partial())
    assert messages(tmp_path) == [
        (None, "stdout", "abc"),
        (None, "stdout", "tail without newline"),  # flushed when the instance unbinds
    ]
    sys.stdout.write("unbound\n")  # outside any instance: the original stream, nothing kept
    assert len(instance_logs.read(tmp_path, "wf", "i-1").lines) == 2


def test_numbers_continue_across_runs_and_after_returns_only_newer_lines(tmp_path, captured):
    class Hello(WorkflowEntrypoint):
        async def run(self, event, step):
            print("hello")

    run_workflow(tmp_path, Hello())
    run_workflow(tmp_path, Hello())  # a rehydration appends to the same log
    logs = instance_logs.read(tmp_path, "wf", "i-1")
    assert [line.n for line in logs.lines] == [1, 2]
    newer = instance_logs.read(tmp_path, "wf", "i-1", after=1)
    assert [line.n for line in newer.lines] == [2] and newer.next_after == 2
    assert instance_logs.read(tmp_path, "wf", "i-1", after=2).lines == []
    tail = instance_logs.read(tmp_path, "wf", "i-1", limit=1)
    assert [line.n for line in tail.lines] == [2] and tail.truncated


def test_a_log_is_bounded_rotated_and_removed_with_the_instance(tmp_path, captured, monkeypatch):
    monkeypatch.setattr(instance_logs, "MAX_LOG_BYTES", 4096)

    class Loud(WorkflowEntrypoint):
        async def run(self, event, step):
            for n in range(500):
                print(f"line {n} " + "x" * 50)

    run_workflow(tmp_path, Loud())
    path = instance_logs.log_path(tmp_path, "wf", "i-1")
    files = list(path.parent.glob("i-1.log*"))
    assert len(files) == 2  # the live file and one rotated backup
    assert sum(f.stat().st_size for f in files) <= 2 * 4096 + 512
    lines = instance_logs.read(tmp_path, "wf", "i-1").lines
    assert lines[-1].message.startswith("line 499 ")
    assert [line.n for line in lines] == list(range(lines[0].n, 501))  # the newest, in order

    instance_logs.remove(tmp_path, "wf", "i-1")
    assert list(path.parent.glob("i-1.log*")) == []
    assert instance_logs.read(tmp_path, "wf", "i-1").lines == []


def test_workflow_delete_removes_every_instance_log(tmp_path, captured):
    class Hello(WorkflowEntrypoint):
        async def run(self, event, step):
            print("hi")

    run_workflow(tmp_path, Hello(), "a")
    run_workflow(tmp_path, Hello(), "b")
    instance_logs.remove_workflow(tmp_path, "wf")
    assert not (tmp_path / "logs" / "wf").exists()


def test_console_follower_prints_new_lines_only_and_survives_a_cut(tmp_path, captured):
    class Hello(WorkflowEntrypoint):
        async def run(self, event, step):
            print(f"hello {event.instanceId}")

    run_workflow(tmp_path, Hello(), "before")
    out = io.StringIO()
    follower = instance_logs.ConsoleFollower(tmp_path, out, interval=0.01)
    follower.start()
    try:
        run_workflow(tmp_path, Hello(), "after")
        wait_for(lambda: "wf/after [run] hello after\n" in out.getvalue(), 5)
        instance_logs.console_path(tmp_path).write_text("")  # a writer cut it back
        run_workflow(tmp_path, Hello(), "later")
        wait_for(lambda: "hello later" in out.getvalue(), 5)
    finally:
        follower.stop()
    assert "before" not in out.getvalue()  # it starts at the end


def test_inexact_step_output_is_converted_alike_and_warned_once_per_step(tmp_path, captured):
    seen = []

    class Lossy(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("lossy")
            async def lossy():
                return {"when": dt.datetime(2026, 1, 2, 3, 4, 5), "tags": {"b", "a"},
                        "pair": (1, 2), "price": decimal.Decimal("1.10")}  # fmt: skip

            value = await lossy()
            seen.append(value)
            return value

    journal = MemoryJournal()
    run_workflow(tmp_path, Lossy(), journal=journal)
    run_workflow(tmp_path, Lossy(), journal=journal)  # replay: the recorded value
    expected = {"when": "2026-01-02T03:04:05", "tags": ["a", "b"], "pair": [1, 2], "price": "1.10"}
    assert seen == [expected, expected]
    warnings = [m for m in messages(tmp_path) if m[1] == "log"]
    assert len(warnings) == 1
    step, _, text = warnings[0]
    assert step == "lossy"
    assert all(t in text for t in ("Decimal", "datetime", "set", "tuple"))


def test_a_silent_instance_gets_no_file_and_a_torn_line_is_skipped(tmp_path, captured):
    class Silent(WorkflowEntrypoint):
        async def run(self, event, step):
            return 1

    run_workflow(tmp_path, Silent(), "quiet")
    assert not instance_logs.log_path(tmp_path, "wf", "quiet").exists()

    class Hello(WorkflowEntrypoint):
        async def run(self, event, step):
            print("hello")

    run_workflow(tmp_path, Hello(), "torn")
    path = instance_logs.log_path(tmp_path, "wf", "torn")
    with path.open("a") as f:
        f.write('{"n": 2, "time": 1.0, "stream": "std')  # a crash in the middle of a write
    run_workflow(tmp_path, Hello(), "torn")
    assert [
        (line.n, line.message) for line in instance_logs.read(tmp_path, "wf", "torn").lines
    ] == [
        (1, "hello"),
        (2, "hello"),
    ]


def test_a_log_the_storage_refuses_never_fails_the_run(tmp_path, captured):
    # A chaos soak errored a shared instance with "OSError: Read-only file system"
    # from making its log folder: a log is never worth a run.
    folder = instance_logs.log_path(tmp_path, "wf", "i-1").parent
    folder.parent.mkdir(parents=True)
    folder.write_text("a file where the instance's log folder goes")

    class Printing(WorkflowEntrypoint):
        async def run(self, event, step):
            print("before")
            return await step.do("one")(lambda: print("inside") or 1)

    outcome = run_workflow(tmp_path, Printing())
    assert outcome.kind == "complete"
    console = instance_logs.console_path(tmp_path).read_text().splitlines()
    assert console == ["wf/i-1 [run] before", "wf/i-1 [one] inside"]  # still shown
