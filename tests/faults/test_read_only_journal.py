"""Storage that turns read-only under a running engine: a journal that cannot be
opened is a clear ``StorageUnavailable`` (the instance waits and retries), never a
raw ``OSError`` that errors the instance (found by the chaos soak).

The read-only storage is a read-only bind mount over a small tmpfs, as the soak
makes it (benchmarks/chaos/storage.py): it needs root, and skips without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.chaos.storage import SmallDisk, StorageFault
from pyflow_actors.errors import StorageUnavailable
from pyflow_actors.storage.journal import DuckJournal


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    small = SmallDisk(tmp_path / "disk", "16m")
    try:
        small.mount()
    except StorageFault as exc:  # mounting a tmpfs needs root: CI and the dev VM have it,
        # so this runs there; elsewhere it says why it did not, it never passes empty
        pytest.skip(f"cannot mount a small filesystem here: {exc}")
    try:
        yield small
    finally:
        small.unmount()


def test_opening_a_new_journal_on_read_only_storage_is_storage_unavailable(disk):
    folder = disk.folder / "journals" / "flow"
    old = DuckJournal(folder / "old.duckdb")  # the folder exists, with a journal in it
    old.set_meta(status="running")
    old.close()
    disk.make_read_only()
    for path in (folder / "new.duckdb", folder / "old.duckdb", disk.folder / "other" / "x.duckdb"):
        with pytest.raises(StorageUnavailable, match="Read-only file system"):
            DuckJournal(path)
    disk.make_writable()
    journal = DuckJournal(folder / "new.duckdb")  # nothing half-created was left behind
    journal.set_meta(status="running")
    assert journal.meta()["status"] == "running"
