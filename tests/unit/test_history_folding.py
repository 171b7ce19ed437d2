"""The supervisor folds finished instances into the history store (fake actors, no Ray).

The tests write each instance's journal as its actor would, then let the
fake actor report the end of its run; the supervisor's fold, describe,
restart, deletion and recovery then work on the real files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyflow_actors.engine import AttemptRecord, RunResult, StepRecord
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.storage.history import history_store
from pyflow_actors.storage.journal import DuckJournal, journal_path

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(30)


def write_journal(root: Path, instance_id: str, steps: int = 2) -> None:
    """What an instance actor leaves: ``steps`` completed steps and a result."""
    with DuckJournal(journal_path(root, WF, instance_id)) as journal:
        journal.set_meta(workflow=WF, instance_id=instance_id, params="null", generation=1,
                         created_at=1.0, started_at=1.0)  # fmt: skip
        for n in range(1, steps + 1):
            journal.begin_step(StepRecord(f"s{n}", f"s{n}", "step", n, float(n), config="{}"))
            journal.begin_attempt(f"s{n}", AttemptRecord(1, float(n)))
            journal.end_attempt(f"s{n}", 1, n + 0.5, None, finish="complete", output=str(n))
        journal.set_result(RunResult(InstanceStatus.COMPLETE, output='"ok"', ended_at=9.0))


async def finished(sup: Supervisor, backend: FakeBackend, root: Path, instance_id: str) -> None:
    await create(sup, instance_id)
    made = await actor(backend, instance_id)
    write_journal(root, instance_id)
    made.finish(output='"ok"')
    await until(lambda: status(sup, instance_id) == InstanceStatus.COMPLETE)


async def folded(sup: Supervisor, instance_id: str) -> None:
    await sup.history.fold_pending()
    await until(lambda: (WF, instance_id) in sup.history.folded)


def stop(sup: Supervisor) -> None:
    """The supervisor goes away (as a kill -9 would leave things)."""
    for task in sup._background:
        task.cancel()
    sup.registry.close()


def test_a_finished_instance_is_folded_and_describe_reads_the_same_steps(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await finished(sup, backend, tmp_path, "f")
        before = (await sup.describe(WF, "f")).steps
        await folded(sup, "f")
        assert not journal_path(tmp_path, WF, "f").exists()
        after = (await sup.describe(WF, "f")).steps
        assert after == before and [s.name for s in after] == ["s1", "s2"]

    run(scenario)


def test_a_lost_registry_is_rebuilt_with_the_folded_instances(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await finished(old, backend, tmp_path, "f")
        await old.control(WF, "f", "restart")  # generation 2, finished again
        await asyncio.sleep(0)
        made = await actor(backend, "f", 2)
        made.finish(output='"two"')
        await until(lambda: status(old, "f") == InstanceStatus.COMPLETE)
        await folded(old, "f")
        stop(old)
        (tmp_path / "registry.duckdb").unlink()

        new = await started(tmp_path, backend)
        row = new.table.require(WF, "f")
        assert (row.status, row.output, row.generation) == (InstanceStatus.COMPLETE, '"two"', 2)
        assert [s.name for s in (await new.describe(WF, "f")).steps] == ["s1", "s2"]
        assert len(backend.actors_of((WF, "f"))) == 2  # nothing ran again

    run(scenario)


def test_restart_from_a_step_of_a_folded_instance_gets_its_journal_back(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await finished(sup, backend, tmp_path, "f")
        await folded(sup, "f")
        await sup.control(WF, "f", "restart", restart_from={"name": "s2"})
        second = await actor(backend, "f", 2)
        assert second.requests[0].keep_before == "s2"
        path = journal_path(tmp_path, WF, "f")
        with DuckJournal(path, read_only=True) as journal:
            assert list(journal.steps()) == ["s1", "s2"]  # the runner resets it from s2
        assert (WF, "f") not in sup.history.folded
        with history_store(tmp_path).session() as session:
            assert session.view(WF, "f") is None

    run(scenario)


def test_deleting_a_folded_instance_removes_its_copy_and_it_never_comes_back(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await finished(sup, backend, tmp_path, "gone")
        await finished(sup, backend, tmp_path, "kept")
        await folded(sup, "kept")
        await folded(sup, "gone")
        result = await sup.delete_instances(WF, ["gone"])
        assert [d.id for d in result.deleted] == ["gone"]
        with history_store(tmp_path).session() as session:
            assert session.keys() == {(WF, "kept")}
        sup.table.compact_creates()  # housekeeping: the create log lets go of both
        stop(sup)
        (tmp_path / "registry.duckdb").unlink()
        new = await started(tmp_path, backend)
        assert new.table.get((WF, "gone")) is None
        assert new.table.require(WF, "kept").status == InstanceStatus.COMPLETE

    run(scenario)


def test_a_journal_left_by_a_crash_mid_fold_is_folded_again_once(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await finished(old, backend, tmp_path, "f")
        path = journal_path(tmp_path, WF, "f")
        saved = path.read_bytes()
        await folded(old, "f")
        stop(old)
        path.write_bytes(saved)  # killed after the copy's commit, before the file went

        new = await started(tmp_path, backend)
        assert (WF, "f") in new.history.lingering
        await new.history.fold_pending()
        assert not path.exists() and not new.history.lingering
        with history_store(tmp_path).session() as session:
            count = session._db.scalar("SELECT count(*) FROM folded")  # type: ignore[union-attr]
        assert count == 1
        assert [s.name for s in (await new.describe(WF, "f")).steps] == ["s1", "s2"]

    run(scenario)


def test_a_running_instance_is_never_folded(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "r")
        await actor(backend, "r")
        write_journal(tmp_path, "r")
        report = await sup.history.fold_pending()
        assert report.folded == [] and journal_path(tmp_path, WF, "r").exists()

    run(scenario)


def test_a_registry_restored_from_an_old_copy_catches_up_with_the_store(tmp_path):
    import shutil

    async def scenario() -> None:
        backend = FakeBackend()
        old = await started(tmp_path, backend)
        await create(old, "f")
        made = await actor(backend, "f")
        copy = tmp_path / "old-registry"
        copy.mkdir()
        for path in tmp_path.glob("registry.duckdb*"):
            shutil.copy(path, copy / path.name)  # the copy says: f is running
        write_journal(tmp_path, "f")
        made.finish(output='"ok"')
        await until(lambda: status(old, "f") == InstanceStatus.COMPLETE)
        await folded(old, "f")
        stop(old)
        for path in tmp_path.glob("registry.duckdb*"):
            path.unlink()
        for path in copy.iterdir():
            shutil.copy(path, tmp_path / path.name)

        new = await started(tmp_path, backend)
        row = new.table.require(WF, "f")
        assert (row.status, row.output) == (InstanceStatus.COMPLETE, '"ok"')
        await asyncio.sleep(0.05)
        assert len(backend.actors_of((WF, "f"))) == 1  # it did not run again
        assert [s.name for s in (await new.describe(WF, "f")).steps] == ["s1", "s2"]

    run(scenario)
