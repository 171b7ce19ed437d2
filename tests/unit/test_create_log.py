"""The create log: accepted creates survive the loss of the registry until their journal exists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.models import CreateOptions, InstanceStatus
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.storage.create_log import CreateEntry, CreateLog
from pyflow_actors.storage.journal import journal_path
from tests import workflows as w

from .fake_actors import FakeBackend

pytestmark = pytest.mark.timeout(20)

WF = "echo"


def entry(instance_id: str, params: str | None = None) -> CreateEntry:
    return CreateEntry(WF, instance_id, params, 1.0, request_id=f"r-{instance_id}")


def test_entries_come_back_in_the_order_they_were_accepted(tmp_path):
    creates = CreateLog(tmp_path)
    creates.append([entry("a", '{"n": 1}'), entry("b")], now=0)
    creates.append([entry("c")], now=86400)  # the next day: its own file
    assert [e.id for e in creates.entries()] == ["a", "b", "c"]
    assert creates.entries()[0] == entry("a", '{"n": 1}')
    assert len(list((tmp_path / "creates").glob("*.jsonl"))) == 2


def test_a_torn_last_line_is_skipped_and_the_rest_is_read(tmp_path):
    creates = CreateLog(tmp_path)
    creates.append([entry("a")], now=0)
    (day,) = (tmp_path / "creates").glob("*.jsonl")
    with day.open("a") as out:
        out.write('{"workflow":"echo","id":"tor')  # a crash in the middle of a write
    assert [e.id for e in creates.entries()] == ["a"]


def test_compaction_keeps_only_what_is_needed_and_removes_empty_files(tmp_path):
    creates = CreateLog(tmp_path)
    creates.append([entry("a"), entry("b")], now=0)
    creates.append([entry("c")], now=86400)
    assert creates.compact(lambda e: e.id == "b") == 2
    assert [e.id for e in creates.entries()] == ["b"]
    assert len(list((tmp_path / "creates").glob("*.jsonl"))) == 1
    assert creates.compact(lambda e: True) == 0


def supervisor(storage: Path, backend: FakeBackend, max_running: int = 1) -> Supervisor:
    config = EngineConfig(
        storage=storage, workflows=(WorkflowSpec.of(WF, w.Echo),), max_running=max_running
    )
    return Supervisor(config, backend=backend)


def lose_registry(sup: Supervisor, storage: Path) -> None:
    """The supervisor is gone (kill -9) and its registry file with it."""
    for task in sup._background:
        task.cancel()
    for live in sup.actors.live.values():
        if live.monitor is not None:
            live.monitor.cancel()
    sup.registry.close()
    for path in storage.glob("registry.duckdb*"):
        path.unlink()


def test_queued_instances_that_never_ran_survive_a_lost_registry(tmp_path):
    async def scenario() -> None:
        old = supervisor(tmp_path, FakeBackend())
        await old.start()
        await old.create(WF, [CreateOptions(id="first", params={"n": 1})], batch=False)
        batch = [CreateOptions(id=i, params={"n": i}) for i in ("b1", "b2")]
        await old.create(WF, batch, batch=True, request_id="req-batch")
        assert old.table.require(WF, "b2").status == InstanceStatus.QUEUED
        lose_registry(old, tmp_path)

        new = supervisor(tmp_path, FakeBackend())
        await new.start()
        rows = {r.id: r for r in new.table}
        assert sorted(rows) == ["b1", "b2", "first"]
        assert rows["b1"].params == '{"n":"b1"}'
        assert rows["b2"].request_id == "req-batch"
        # Accepted order is kept: the first create runs first, the batch waits its turn.
        assert rows["first"].status == InstanceStatus.RUNNING
        assert rows["b1"].queue_seq < rows["b2"].queue_seq
        assert rows["b2"].status == InstanceStatus.QUEUED
        for task in new._background:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_entries_are_compacted_once_the_instance_has_a_journal_or_has_ended(tmp_path):
    async def scenario() -> None:
        sup = supervisor(tmp_path, FakeBackend())
        await sup.start()
        await sup.create(WF, [CreateOptions(id=i) for i in ("ran", "ended", "q")], batch=True)
        journal = journal_path(tmp_path, WF, "ran")
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.touch()  # what the instance's first run leaves
        await sup.control(WF, "ended", "terminate")
        assert sup.table.compact_creates() == 2
        assert [e.id for e in sup.table.creates.entries()] == ["q"]
        for task in sup._background:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_deleted_workflow_leaves_nothing_in_the_log_for_a_restart_to_bring_back(tmp_path):
    async def scenario() -> None:
        old = supervisor(tmp_path, FakeBackend())
        await old.start()
        await old.create(WF, [CreateOptions(id=i) for i in ("x", "y")], batch=True)
        await old.delete_workflow(WF)
        assert old.table.creates.entries() == []
        lose_registry(old, tmp_path)

        new = supervisor(tmp_path, FakeBackend())
        await new.start()
        assert list(new.table) == []
        for task in new._background:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))
