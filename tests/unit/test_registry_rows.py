"""A registry row's save writes only the columns that changed since its last
commit (``storage/registry_rows.py``), and the file still holds every change."""

from __future__ import annotations

from typing import Any

import pytest

from pyflow_actors.errors import StorageUnavailable
from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage.registry import InstanceRow, Registry


@pytest.fixture
def registry(tmp_path) -> Any:
    registry = Registry(tmp_path)
    yield registry
    registry.close()


@pytest.fixture
def statements(registry, monkeypatch) -> list[str]:
    seen: list[str] = []
    execute = registry._db.execute

    def spying(sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return execute(sql, params)

    monkeypatch.setattr(registry._db, "execute", spying)
    return seen


def new_row(instance_id: str = "i-1") -> InstanceRow:
    return InstanceRow("wf", instance_id, InstanceStatus.QUEUED, '{"n": 1}', 1.0, queue_seq=1)


def read_back(tmp_path, registry: Registry) -> dict[str, InstanceRow]:
    registry.close()
    reopened = Registry(tmp_path)
    rows = {r.id: r for r in reopened.instances()}
    reopened.close()
    return rows


def test_a_status_change_updates_only_the_columns_it_changed(tmp_path, registry, statements):
    row = new_row()
    registry.insert([row])
    row.status, row.started_at = InstanceStatus.RUNNING, 2.0
    registry.save(row)
    [update] = [sql for sql in statements if sql.startswith("UPDATE")]
    assert update == "UPDATE instances SET status = ?, started_at = ? WHERE workflow = ? AND id = ?"
    row.status, row.ended_at, row.output = InstanceStatus.COMPLETE, 3.0, '"done"'
    registry.save(row)
    assert read_back(tmp_path, registry)["i-1"] == row


def test_a_save_that_changed_nothing_writes_nothing(registry, statements):
    row = new_row()
    registry.insert([row])
    statements.clear()
    registry.save(row)
    registry.save_many([(row, [])])
    assert statements == []


def test_a_row_loaded_from_the_file_is_updated_narrowly_too(tmp_path, registry):
    registry.insert([new_row()])
    registry.close()
    reopened = Registry(tmp_path)
    [row] = reopened.instances()
    seen: list[str] = []
    execute = reopened._db.execute
    reopened._db.execute = lambda sql, params=None: seen.append(sql) or execute(sql, params)  # type: ignore[method-assign]
    row.crashes = 2
    reopened.save(row)
    assert seen == ["UPDATE instances SET crashes = ? WHERE workflow = ? AND id = ?"]
    reopened.close()


def test_after_a_refused_write_the_row_is_written_whole(tmp_path, registry, monkeypatch):
    row = new_row()
    registry.insert([row])
    execute = registry._db.execute

    def refusing(sql: str, params: Any = None) -> Any:
        if sql.startswith("UPDATE"):
            raise StorageUnavailable("the disk is full")
        return execute(sql, params)

    monkeypatch.setattr(registry._db, "execute", refusing)
    row.status, row.started_at = InstanceStatus.RUNNING, 2.0
    with pytest.raises(StorageUnavailable):
        registry.save(row)
    monkeypatch.undo()
    seen: list[str] = []
    monkeypatch.setattr(
        registry._db, "execute", lambda sql, p=None: seen.append(sql) or execute(sql, p)
    )
    registry.save(row)
    [update] = seen
    assert "params = ?" in update and "status = ?" in update  # every column
    assert read_back(tmp_path, registry)["i-1"] == row


def test_a_final_row_is_not_kept_in_memory(registry):
    rows = [new_row(f"i-{n}") for n in range(3)]
    registry.insert(rows)
    rows[0].status = InstanceStatus.COMPLETE
    registry.save_many([(r, []) for r in rows])
    assert len(registry._saved) == 2
