"""Storage that refuses writes, and journal files that are unreadable: no Ray."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine import Execution, MemoryJournal
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import JournalCorrupt, StorageUnavailable
from pyflow_actors.storage.duck import storage_unavailable
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.registry import Registry


class FullAfter(MemoryJournal):
    """A journal whose storage fills up after ``room`` step attempts."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def begin_attempt(self, key, attempt) -> None:
        if self.room == 0:
            raise StorageUnavailable("the storage at /x cannot be written (No space left)")
        self.room -= 1
        super().begin_attempt(key, attempt)


class CatchesEverything(WorkflowEntrypoint):
    async def run(self, event, step):
        done = []
        for i in range(3):
            try:
                done.append(await step.do(f"s{i}")(lambda i=i: i))
            except Exception:  # noqa: BLE001 - a careless workflow
                done.append(None)
        return done


def run(journal) -> object:
    event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")

    async def go():
        return await Execution(CatchesEverything(), event, journal).run()

    return asyncio.run(go())


def test_a_journal_write_the_storage_refuses_stops_the_run_even_if_workflow_code_catches_it():
    journal = FullAfter(room=1)
    with pytest.raises(StorageUnavailable):
        run(journal)
    # What was committed stays; nothing was recorded as a workflow error.
    steps = journal.steps()
    assert steps["s0"].state == "complete"
    assert all(s.error_name is None for s in steps.values())
    # With room again, the run goes on from the journal and completes.
    journal.room = 10
    outcome = run(journal)
    assert outcome.kind == "complete" and outcome.output == "[0,1,2]"


# Damage past DuckDB's headers. A file shorter than its headers with no WAL is
# what a cut-off creation leaves: set aside and created afresh by a writable
# open (tests/unit/test_cut_off_files.py).
@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:8192] + os.urandom(len(data) - 8192),
    ],
    ids=["truncated-half", "garbage-blocks"],
)
def test_a_damaged_journal_is_reported_as_corrupt_and_can_be_opened_again(tmp_path, damage):
    path = tmp_path / "i.duckdb"
    with DuckJournal(path) as journal:
        journal.set_meta(workflow="wf", instance_id="i", params="{}")
    path.write_bytes(damage(path.read_bytes()))
    for read_only in (True, False, True):  # a failed open lets go of the file
        with (
            pytest.raises(JournalCorrupt, match="cannot be opened or read"),
            DuckJournal(path, read_only=read_only) as journal,
        ):
            journal.meta()
            journal.steps()


def test_storage_errors_are_told_apart_from_other_errors(tmp_path: Path):
    full = storage_unavailable(OSError(28, "No space left on device"), tmp_path)
    assert isinstance(full, StorageUnavailable) and "No space left" in full.message
    assert full.http_status == 503 and full.code == "storage.unavailable"
    duck = Exception('IO Error: Could not write file "x.wal": Read-only file system')
    assert storage_unavailable(duck, tmp_path) is not None
    assert storage_unavailable(Exception("Could not set lock on file"), tmp_path) is None
    assert storage_unavailable(Exception("Corrupt database file"), tmp_path) is None


def test_an_unreadable_registry_is_set_aside_and_started_anew(tmp_path):
    registry = Registry(tmp_path)
    assert registry.recreated
    registry.set_setting("x", b"1")
    registry.close()
    again = Registry(tmp_path)
    assert not again.recreated and again.get_setting("x") == b"1"
    again.close()
    (tmp_path / "registry.duckdb").write_bytes(b"not a database at all" * 100)
    fresh = Registry(tmp_path)
    assert fresh.recreated and fresh.get_setting("x") is None
    assert list(tmp_path.glob("registry.corrupt-*.duckdb"))
