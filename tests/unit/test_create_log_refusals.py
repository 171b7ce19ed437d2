"""A create refused after its create-log line was written takes that line back, even
on a full disk, so that no restart brings a refused instance back (found by the
chaos soak: creates answered 503 during a full disk came back queued after a
supervisor restart, because the log's compaction needs free space to rewrite)."""

from __future__ import annotations

import asyncio
import errno

import pytest

from pyflow_actors.errors import StorageUnavailable
from pyflow_actors.models import CreateOptions
from pyflow_actors.storage import create_log
from pyflow_actors.storage.create_log import CreateLog
from tests.unit.fake_actors import FakeBackend
from tests.unit.test_create_log import WF, entry, lose_registry, supervisor

pytestmark = pytest.mark.timeout(20)


def test_undo_takes_back_exactly_the_last_append(tmp_path):
    creates = CreateLog(tmp_path)
    creates.append([entry("kept")])
    appended = creates.append([entry("refused-1"), entry("refused-2")])
    assert appended is not None
    creates.undo(appended)
    assert [e.id for e in creates.entries()] == ["kept"]
    creates.append([entry("next")])
    assert [e.id for e in creates.entries()] == ["kept", "next"]


def test_a_create_refused_on_a_full_disk_never_comes_back_after_a_restart(tmp_path, monkeypatch):
    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def registry_full(*_: object, **__: object) -> None:
        raise StorageUnavailable("the storage cannot be written (No space left on device)")

    async def scenario() -> None:
        old = supervisor(tmp_path, FakeBackend())
        await old.start()
        await old.create(WF, [CreateOptions(id="accepted")], batch=False)
        # The create log's line fits, the registry's insert does not; a rewrite
        # of the log (what compaction does) is refused too.
        monkeypatch.setattr(old.table.registry, "insert", registry_full)
        monkeypatch.setattr(create_log, "_rewrite", full)
        with pytest.raises(StorageUnavailable):
            await old.create(WF, [CreateOptions(id="refused")], batch=False)
        monkeypatch.undo()
        assert [e.id for e in old.table.creates.entries()] == ["accepted"]
        lose_registry(old, tmp_path)  # the restart reads the create log

        new = supervisor(tmp_path, FakeBackend())
        await new.start()
        assert sorted(r.id for r in new.table) == ["accepted"]
        for task in new._background:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))
