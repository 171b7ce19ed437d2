"""Steps of an instance folded while they are read (runtime/supervisor/recovery.py
``read_steps``). A finished instance's journal is folded into the history store
right after its run ends, while a client may be reading it (the porting test
of the get-started example once saw a complete instance with no steps): the
file opens, the fold removes it and its write-ahead log, and DuckDB reads a
file whose tables were all in that log. The reader then reads the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyflow_actors.errors import JournalCorrupt
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime.supervisor import recovery
from pyflow_actors.storage import history
from pyflow_actors.storage.history import HistoryStore
from pyflow_actors.storage.journal import DuckJournal, journal_path, remove_journal
from pyflow_actors.storage.registry import InstanceRow

KILLED_WRITER = """
import os, sys
from pathlib import Path
from pyflow_actors.engine import AttemptRecord, StepRecord
from pyflow_actors.storage.journal import DuckJournal, journal_path, remove_journal
journal = DuckJournal(journal_path(Path(sys.argv[1]), "wf", "i-1"))
journal.set_meta(workflow="wf", instance_id="i-1", generation=1)
for n, name in enumerate(["step1", "step2"], 1):
    journal.begin_step(StepRecord(name, name, "step", n, 2.0, config="{}"))
    journal.begin_attempt(name, AttemptRecord(1, 2.0))
    journal.end_attempt(name, 1, 2.5, None, finish="complete", output="1")
os._exit(0)  # as an actor killed after its run: its writes are in the write-ahead log
"""


def killed_writer_journal(root: Path) -> Path:
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)], check=True, timeout=60)
    path = journal_path(root, "wf", "i-1")
    assert Path(f"{path}.wal").exists()
    return path


def test_a_journal_folded_while_read_is_read_from_the_store(tmp_path, monkeypatch):
    path = killed_writer_journal(tmp_path)
    wal = Path(f"{path}.wal")
    row = InstanceRow("wf", "i-1", InstanceStatus.COMPLETE, "{}", 1.0)
    opened = DuckJournal.__init__

    def opened_while_folded(self, *args, **kwargs):
        # The race happens inside DuckDB's open: the file is open when the fold
        # (its copy already in the store) removes the log, then the file.
        monkeypatch.setattr(DuckJournal, "__init__", opened)  # the fold's own reads
        monkeypatch.setattr(history, "remove_journal", lambda p: os.remove(f"{p}.wal"))
        HistoryStore(tmp_path).fold([row])
        monkeypatch.setattr(history, "remove_journal", remove_journal)
        opened(self, *args, **kwargs)
        os.remove(path)

    monkeypatch.setattr(DuckJournal, "__init__", opened_while_folded)
    steps = recovery.read_steps(tmp_path, ("wf", "i-1"))
    assert not path.exists() and not wal.exists()
    assert [s.name for s in steps] == ["step1", "step2"]


def test_without_the_store_such_a_read_finds_no_tables(tmp_path):
    """What the reader saw before: a file whose tables were all in its log."""
    path = killed_writer_journal(tmp_path)
    os.remove(f"{path}.wal")
    with DuckJournal(path, read_only=True) as journal, pytest.raises(JournalCorrupt):
        recovery.step_infos(journal)


def test_a_corrupt_journal_that_stays_is_still_reported(tmp_path):
    path = killed_writer_journal(tmp_path)
    os.remove(f"{path}.wal")  # its tables lost, the file still there: corrupt, not folded
    with pytest.raises(JournalCorrupt):
        recovery.read_steps(tmp_path, ("wf", "i-1"))
