"""Every file the engine creates survives its creation being cut off.

A full disk (ENOSPC) or a kill -9 while DuckDB writes a new file's headers
leaves its first 0, 4096 or 8192 bytes, a file DuckDB then refuses forever
("not a valid DuckDB database file"). CI's chaos-quick failed so on the
history store; these are the same cut for every other file kind: the
engine starts again, loses nothing accepted, and keeps the damaged file
beside (never deleted, reported). A short file beside a write-ahead log held
commits once: it is reported corrupt, never taken for an unfinished one.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from pyflow_actors.analytics.store import AnalyticsStore
from pyflow_actors.config import EngineConfig
from pyflow_actors.errors import JournalCorrupt, StorageUnavailable
from pyflow_actors.models import CreateOptions, InstanceStatus
from pyflow_actors.storage import create_log
from pyflow_actors.storage.create_log import CreateLog
from pyflow_actors.storage.duck import cut_off_at_creation
from pyflow_actors.storage.formats import CURRENT, JOURNAL
from pyflow_actors.storage.history import HistoryStore
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.registry import Registry
from service.dash import secret
from tests.unit.test_create_log import WF, entry, lose_registry, supervisor

from .fake_actors import FakeBackend

pytestmark = pytest.mark.timeout(30)

CUTS = [0, 4096, 8192]  # what a full disk or a kill -9 leaves of DuckDB's 12 KiB of headers


def headers_of(model: Path, kept: int) -> bytes:
    """The first ``kept`` bytes of a freshly created DuckDB file like ``model``."""
    return model.read_bytes()[:kept]


def only_set_aside(folder: Path, name: str) -> Path:
    (aside,) = [p for p in folder.iterdir() if p.name.startswith(f"{name}.unfinished-")]
    return aside


@pytest.mark.parametrize("kept", CUTS)
def test_a_journal_cut_off_while_created_is_set_aside_and_the_instance_starts_afresh(
    tmp_path, kept
):
    model = tmp_path / "model.duckdb"
    DuckJournal(model).close()
    path = tmp_path / "journals" / "wf" / "i.duckdb"
    path.parent.mkdir(parents=True)
    path.write_bytes(headers_of(model, kept))
    with DuckJournal(path) as journal:  # was JournalCorrupt: the instance errored
        assert journal.steps() == {} and journal.meta() == {"format_version": str(CURRENT[JOURNAL])}
        journal.set_meta(workflow="wf", instance_id="i")
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["instance_id"] == "i"
    assert only_set_aside(path.parent, "i.duckdb").read_bytes() == headers_of(model, kept)


@pytest.mark.parametrize("kept", CUTS)
def test_a_short_journal_beside_its_write_ahead_log_held_commits_and_is_reported_corrupt(
    tmp_path, kept
):
    path = tmp_path / "i.duckdb"
    journal = DuckJournal(path)
    journal.set_meta(workflow="wf")  # committed: in the WAL until a checkpoint
    wal = path.with_name("i.duckdb.wal")
    saved = path.read_bytes(), wal.read_bytes()
    journal.close()
    path.write_bytes(saved[0][:kept])
    wal.write_bytes(saved[1])
    assert not cut_off_at_creation(path)
    with pytest.raises(JournalCorrupt), DuckJournal(path):
        pass
    assert path.read_bytes() == saved[0][:kept] and wal.read_bytes() == saved[1]  # untouched
    assert not list(tmp_path.glob("*.unfinished-*"))


@pytest.mark.parametrize("kept", CUTS)
def test_a_history_store_cut_short_beside_its_log_is_reported_not_replaced(tmp_path, kept):
    store = HistoryStore(tmp_path)
    with store.session():
        pass
    store.path.write_bytes(store.path.read_bytes()[:kept])
    store.path.with_name("history.duckdb.wal").write_bytes(b"\x01" * 512)
    with pytest.raises(Exception, match="cannot be opened or read"), store.session():
        pass
    assert store.path.stat().st_size == kept and not list(tmp_path.glob("*.unfinished-*"))


@pytest.mark.parametrize("kept", CUTS)
def test_a_registry_cut_off_while_created_is_set_aside_and_rebuilt(tmp_path, kept):
    model = Registry(tmp_path / "model")
    model.close()
    (tmp_path / "registry.duckdb").write_bytes(headers_of(model.path, kept))
    registry = Registry(tmp_path)
    assert registry.recreated  # the supervisor rebuilds it from journals and the create log
    registry.set_setting("x", b"1")
    registry.close()
    (aside,) = tmp_path.glob("registry.corrupt-*.duckdb")
    assert aside.read_bytes() == headers_of(model.path, kept)


@pytest.mark.parametrize("kept", CUTS)
def test_an_analytics_store_cut_off_while_created_no_longer_stops_the_supervisor(tmp_path, kept):
    AnalyticsStore(tmp_path / "model")
    model = tmp_path / "model" / "analytics.duckdb"
    (tmp_path / "analytics.duckdb").write_bytes(headers_of(model, kept))
    store = AnalyticsStore(tmp_path)  # was an IOException: the supervisor could not start
    assert store.ingest([]).added == 0
    assert only_set_aside(tmp_path, "analytics.duckdb").read_bytes() == headers_of(model, kept)


@pytest.mark.parametrize("kept", CUTS)
def test_the_engine_starts_again_on_cut_off_files_and_loses_no_accepted_create(tmp_path, kept):
    # Registry (with its subscription outbox) and analytics store as a full disk
    # leaves them while they are created; the create log holds the accepted creates.
    model = tmp_path / "model"
    Registry(model).close()
    AnalyticsStore(model).close()

    async def scenario() -> None:
        first = supervisor(tmp_path, FakeBackend())
        await first.start()
        await first.create(WF, [CreateOptions(id=i) for i in ("a", "b", "c")], batch=True)
        lose_registry(first, tmp_path)
        first.observe.analytics.close()  # its process is gone (DuckDB caches open files)
        for name in ("registry.duckdb", "analytics.duckdb"):
            for left in tmp_path.glob(f"{name}*"):  # the file and its log: a new one's creation
                left.unlink()  # cut off (the first process had created and used them)
            (tmp_path / name).write_bytes(headers_of(model / name, kept))
        again = supervisor(tmp_path, FakeBackend())
        await again.start()  # was: the analytics store stopped the supervisor's start
        rows = {r.id: r.status for r in again.table}
        assert sorted(rows) == ["a", "b", "c"]
        assert rows["a"] == InstanceStatus.RUNNING and rows["c"] == InstanceStatus.QUEUED
        for task in again._background:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert list(tmp_path.glob("registry.corrupt-*.duckdb"))


def test_a_create_log_line_torn_by_a_kill_does_not_swallow_the_next_accepted_create(tmp_path):
    creates = CreateLog(tmp_path)
    creates.append([entry("a")], now=0)
    (day,) = (tmp_path / "creates").glob("*.jsonl")
    with day.open("a") as out:
        out.write('{"workflow":"echo","id":"tor')  # killed in the middle of its write
    creates.append([entry("b")], now=0)  # accepted after the restart
    assert [e.id for e in creates.entries()] == ["a", "b"]


def test_a_create_log_write_the_disk_takes_only_in_part_is_written_whole(tmp_path, monkeypatch):
    real_write = os.write

    def half_at_a_time(descriptor: int, data: bytes) -> int:
        return real_write(descriptor, bytes(data)[: max(1, len(data) // 2)])

    monkeypatch.setattr(create_log.os, "write", half_at_a_time)
    creates = CreateLog(tmp_path)
    creates.append([entry("a"), entry("b", '{"n": 1}')], now=0)
    monkeypatch.undo()
    assert [e.id for e in creates.entries()] == ["a", "b"]


def test_a_create_log_write_cut_off_by_a_full_disk_leaves_nothing_of_itself(tmp_path, monkeypatch):
    creates = CreateLog(tmp_path)
    creates.append([entry("kept")], now=0)
    real_write, calls = os.write, []

    def full_after_a_part(descriptor: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, bytes(data)[:10])

    monkeypatch.setattr(create_log.os, "write", full_after_a_part)
    with pytest.raises(StorageUnavailable):
        creates.append([entry("refused")], now=0)
    monkeypatch.undo()
    creates.append([entry("next")], now=0)
    assert [e.id for e in creates.entries()] == ["kept", "next"]


def test_a_dashboard_key_cut_off_while_written_is_never_put_in_place(tmp_path, monkeypatch):
    config = EngineConfig(storage=tmp_path)
    monkeypatch.delenv(secret.ENV_SECRET, raising=False)
    real_write = os.write
    monkeypatch.setattr(secret.os, "write", lambda fd, data: real_write(fd, bytes(data)[:8]))
    with pytest.raises(OSError):
        secret.session_key(config)
    monkeypatch.undo()
    monkeypatch.delenv(secret.ENV_SECRET, raising=False)
    key = secret.session_key(config)
    Fernet(key)  # a whole key: the cut one was never linked into place
    assert secret.session_key(config) == key
    assert [p.name for p in (tmp_path / "dash").iterdir()] == ["session.key"]


def test_an_empty_dashboard_key_left_by_a_crash_is_set_aside_and_made_anew(tmp_path, monkeypatch):
    monkeypatch.delenv(secret.ENV_SECRET, raising=False)
    (tmp_path / "dash").mkdir()
    (tmp_path / "dash" / "session.key").write_bytes(b"")
    key = secret.session_key(EngineConfig(storage=tmp_path))
    Fernet(key)
    assert only_set_aside(tmp_path / "dash", "session.key").read_bytes() == b""
