"""A journal made empty by its host reads its rows back from memory, as the file
holds them (``storage/journal_written.py``), until a write it does not keep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pyflow_actors.engine.records import AttemptRecord, EventRecord, StepRecord
from pyflow_actors.storage import duck, journal_meta
from pyflow_actors.storage.history import FinishedJournal
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.journal_rows import read_all_events, read_steps
from pyflow_actors.storage.journal_stock import JournalStock

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[DuckJournal]:
    """A journal taken from a stock of empty ones, as a shared host opens it."""
    database = duckdb.connect(":memory:")
    stock = JournalStock(tmp_path, database, size=1)
    stock.refill()
    path = tmp_path / "journals" / "wf" / "one.duckdb"
    path.parent.mkdir(parents=True)
    assert stock.claim(path)
    journal = DuckJournal(path, database=database, fresh=True)
    yield journal
    journal.close()
    stock.remove()


@pytest.fixture
def step_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements that read steps, attempts or events back from a journal."""
    seen: list[str] = []
    execute = duck.GuardedConnection.execute

    def spying(self: duck.GuardedConnection, sql: str, params: Any = None) -> Any:
        if sql.lstrip().upper().startswith("SELECT") and "FROM meta" not in sql:
            seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(duck.GuardedConnection, "execute", spying)
    return seen


def run_step(
    journal: DuckJournal, key: str, seq: int, error: tuple[str, str] | None = None
) -> None:
    """A step begun and ended by its first attempt (``error``: that attempt failed)."""
    journal.begin_step(StepRecord(key, key, "step", seq, started_at=10.0 + seq, config="{}"))
    journal.begin_attempt(key, AttemptRecord(1, 10.0 + seq))
    finish = None if error else "complete"
    journal.end_attempt(key, 1, 11.0 + seq, error, finish=finish, output=None if error else "1")


def test_steps_ended_by_their_first_attempt_are_read_from_memory_as_the_file_holds_them(
    fresh, step_reads
):
    run_step(fresh, "second", seq=2)  # ended before a step begun earlier (a gather)
    run_step(fresh, "first", seq=1)
    fresh.begin_step(StepRecord("nap", "nap", "sleep", 3, started_at=14.0, wake_at=99.0))
    in_memory = fresh.steps()
    assert step_reads == []  # nothing read back
    assert list(in_memory) == ["first", "second", "nap"]  # in the order the steps began
    assert in_memory == read_steps(fresh._db)
    assert in_memory["first"].attempts == [AttemptRecord(1, 11.0, 12.0)]
    assert fresh.all_events() == [] == read_all_events(fresh._db)
    assert fresh.pending_events() == []


def test_the_copy_a_final_run_carries_equals_the_journal_read_back_from_its_file(fresh):
    run_step(fresh, "a", seq=1)
    run_step(fresh, "b", seq=2)
    fresh.set_meta(status="complete", output='"done"', ended_at=20.0)
    carried = FinishedJournal.of(fresh).to_json()
    path = fresh.path
    fresh.close()
    with DuckJournal(path, read_only=True) as reopened:
        assert carried == FinishedJournal.of(reopened).to_json()


def test_a_retried_step_makes_the_journal_read_its_file_again(fresh, step_reads):
    run_step(fresh, "flaky", seq=1, error=("Boom", "first try"))  # its attempt row is written
    fresh.begin_attempt("flaky", AttemptRecord(2, 13.0))
    fresh.end_attempt("flaky", 2, 14.0, None, finish="complete", output="1")
    steps = fresh.steps()
    assert step_reads  # read from the file
    assert [a.n for a in steps["flaky"].attempts] == [1, 2]
    assert steps["flaky"].attempts[0].error_name == "Boom"


def test_an_event_makes_the_journal_read_its_file_again(fresh):
    fresh.add_events([EventRecord("e1", "approval", "{}", 5.0)])
    assert [e.event_id for e in fresh.pending_events()] == ["e1"]
    assert [e.event_id for e in fresh.all_events()] == ["e1"]


def test_a_step_whose_commit_failed_is_not_read_back(fresh, monkeypatch):
    run_step(fresh, "kept", seq=1)
    fresh.hold_start_meta()
    fresh.set_meta(started_at=1.0)  # held long enough: the next step's commit is a transaction
    monkeypatch.setattr(journal_meta, "HOLD_SECONDS", 0.0)
    execute = duck.GuardedConnection.execute

    def failing_commit(self: duck.GuardedConnection, sql: str, params: Any = None) -> Any:
        if sql == "COMMIT":  # DuckDB rolls back a commit that failed
            execute(self, "ROLLBACK")
            raise duck.duckdb.IOException("disk I/O error")
        return execute(self, sql, params)

    monkeypatch.setattr(duck.GuardedConnection, "execute", failing_commit)
    with pytest.raises(Exception):  # noqa: B017 - whatever the storage error maps to
        run_step(fresh, "lost", seq=2)
    monkeypatch.setattr(duck.GuardedConnection, "execute", execute)
    steps = fresh.steps()
    assert "kept" in steps
    assert steps["lost"].state == "running"  # back in the start log, not committed
