"""Status changes in a batch (storage/registry.py, supervisor/table.py): one
registry commit for many rows, durable when the batch ends, and kept for a
later flush when the storage refuses it."""

from __future__ import annotations

from pyflow_actors.errors import StorageUnavailable
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor.table import InstanceTable
from pyflow_actors.storage.registry import InstanceRow, Registry


def rows(n: int) -> list[InstanceRow]:
    return [InstanceRow("wf", f"i-{i}", InstanceStatus.QUEUED, None, 1.0) for i in range(n)]


def test_a_batch_of_status_changes_is_one_registry_commit_at_its_end(tmp_path, monkeypatch):
    registry = Registry(tmp_path)
    table = InstanceTable(registry, tmp_path)
    table.add(rows(50))
    written = []
    execute = registry._db.execute

    def counting(sql, params=None):
        written.append(sql.split()[0])
        return execute(sql, params)

    monkeypatch.setattr(registry._db, "execute", counting)
    with table.batch():
        for row in list(table):
            table.set_status(row, InstanceStatus.RUNNING)
        assert written == []  # nothing written until the batch ends
    assert written.count("COMMIT") == 1 and written.count("UPDATE") == 50
    monkeypatch.undo()
    registry.close()
    reopened = Registry(tmp_path)
    assert {r.status for r in reopened.instances()} == {InstanceStatus.RUNNING}
    reopened.close()


def test_a_refused_batch_is_kept_in_memory_and_flushed_later(tmp_path, monkeypatch):
    registry = Registry(tmp_path)
    table = InstanceTable(registry, tmp_path)
    table.add(rows(3))

    def refuse(changes):
        raise StorageUnavailable("the disk is full")

    monkeypatch.setattr(registry, "save_many", refuse)
    with table.batch():
        for row in list(table):
            table.set_status(row, InstanceStatus.RUNNING)
    assert table.storage_errors == 1 and len(table._unsaved) == 3
    monkeypatch.undo()
    table.flush()
    assert table._unsaved == {}
    registry.close()
    reopened = Registry(tmp_path)
    assert {r.status for r in reopened.instances()} == {InstanceStatus.RUNNING}
    reopened.close()
