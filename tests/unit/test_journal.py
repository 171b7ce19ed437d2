"""The DuckDB journal: what the engine writes survives a reopen, and replay uses it."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.engine import AttemptRecord, EventRecord, Execution, RunResult, StepRecord
from pyflow_actors.entrypoint import WorkflowEvent
from pyflow_actors.errors import JournalCorrupt
from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage import journal_meta
from pyflow_actors.storage.duck import journal_database
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos


@pytest.fixture
def path(tmp_path):
    return journal_path(tmp_path, "wf", "i-1")


def test_small_block_size_keeps_files_small(path):
    with DuckJournal(path) as journal:
        journal.set_meta(workflow="wf")
    assert path.stat().st_size < 100_000


def test_journal_statements_run_inline_on_one_thread_without_the_optimizer(path, tmp_path):
    """A journal's DuckDB, its own or a shared host's, is set for one-row statements
    (storage/duck.py: the scheduler hand-off and the optimizer cost a step more
    than its INSERT): on every cursor, and reads and erases still answer right."""
    host = journal_database()
    for journal in (DuckJournal(path), DuckJournal(tmp_path / "h.duckdb", database=host)):
        with journal:
            settings = dict(
                journal._db.execute(
                    "SELECT name, value FROM duckdb_settings() "
                    "WHERE name IN ('threads', 'enable_optimizer')"
                ).fetchall()
            )
            assert settings == {"threads": "1", "enable_optimizer": "false"}
            journal.begin_step(StepRecord(key="s", name="s", kind="step", seq=1, started_at=1.0))
            journal.begin_attempt("s", AttemptRecord(1, 1.0))
            journal.end_attempt("s", 1, 2.0, None, finish="complete", output="1")
            assert journal.steps()["s"].attempts == [AttemptRecord(1, 1.0, 2.0)]
            journal.reset(2)
            assert journal.steps() == {}
    host.close()


def test_records_survive_reopen(path):
    with DuckJournal(path) as journal:
        journal.set_meta(workflow="wf", generation=1)
        journal.begin_step(
            StepRecord(key="a", name="a", kind="step", seq=1, started_at=1.0, config="{}")
        )
        journal.begin_attempt("a", AttemptRecord(n=1, started_at=1.0))
        journal.end_attempt("a", 1, 2.0, ("ValueError", "no"))
        journal.begin_attempt("a", AttemptRecord(n=2, started_at=3.0))
        journal.end_attempt("a", 2, 4.0, None, finish="complete", output="42")
        new = journal.add_events(
            [EventRecord("e1", "go", '{"x":1}', 5.0), EventRecord("e2", "go", "2", 6.0)]
        )
        assert [e.seq for e in new] == [1, 2]
        assert journal.add_events([EventRecord("e1", "go", "dup", 7.0)]) == []
    with DuckJournal(path, read_only=True) as journal:
        step = journal.steps()["a"]
        assert (step.state, step.output, step.ended_at) == ("complete", "42", 4.0)
        assert [(a.n, a.error_name) for a in step.attempts] == [(1, "ValueError"), (2, None)]
        assert [e.event_id for e in journal.pending_events()] == ["e1", "e2"]
        [info] = step_infos(journal)
        assert info.success and [a.success for a in info.attempts] == [False, True]


def test_consume_event_is_one_transaction_and_reset_erases(path):
    with DuckJournal(path) as journal:
        journal.begin_step(
            StepRecord(key="w", name="w", kind="waitForEvent", seq=1, started_at=1.0)
        )
        journal.add_events([EventRecord("e1", "go", "1", 1.0)])
        journal.consume_event("w", "e1", 2.0, '{"type":"go"}')
        assert journal.pending_events() == [] and journal.steps()["w"].state == "complete"
        journal.set_result(RunResult(InstanceStatus.COMPLETE, output="1", ended_at=3.0))
        assert journal.result().status is InstanceStatus.COMPLETE
        journal.reset(generation=2)
        assert journal.steps() == {} and journal.result() is None
        assert journal.meta()["generation"] == "2"


def test_corrupt_file_is_a_clear_error(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(JournalCorrupt, match="cannot be opened"):
        DuckJournal(path)


def test_workflow_replays_from_a_reopened_file(path):
    calls = []

    class W(WorkflowEntrypoint):
        async def run(self, event, step):
            first = await step.do("first")(lambda: calls.append(1) or len(calls))
            await step.sleep("nap", 0.4)
            got = await step.wait_for_event("wait", "go", timeout="5 seconds")
            return [first, got["payload"]]

    def run_once(events=()):
        async def go():
            with DuckJournal(path) as journal:
                if events:
                    journal.add_events(list(events))
                event = WorkflowEvent(None, dt.datetime.now(dt.timezone.utc), "i-1", "wf")
                return await Execution(W(), event, journal, hibernate_after=0.1).run()

        return asyncio.run(go())

    assert run_once().kind == "hibernate"  # the sleep
    time.sleep(0.45)
    assert run_once().kind == "hibernate"  # the wait, idle past hibernate_after
    done = run_once([EventRecord("e1", "go", '"yes"', time.time())])
    assert done.kind == "complete" and done.output == '[1,"yes"]'
    assert calls == [1]


def run_step(journal: DuckJournal, key: str, seq: int) -> None:
    journal.begin_step(StepRecord(key=key, name=key, kind="step", seq=seq, started_at=6.0))
    journal.begin_attempt(key, AttemptRecord(1, 6.0))
    journal.end_attempt(key, 1, 7.0, None, finish="complete", output="1")


def test_a_held_start_stamp_leaves_a_quick_step_one_insert_and_goes_with_a_later_one(
    tmp_path, monkeypatch
):
    path = tmp_path / "held.duckdb"
    journal = DuckJournal(path)
    journal.hold_start_meta()
    journal.set_meta(workflow="wf", generation=1, started_at=5.0)
    assert journal.meta()["started_at"] == "5.0"  # the run sees it at once
    assert "started_at" not in _stored(journal)  # not written on its own
    run_step(journal, "quick", 0)
    assert "started_at" not in _stored(journal)  # the step alone: one INSERT
    monkeypatch.setattr(journal_meta, "HOLD_SECONDS", 0.0)  # held long enough now
    run_step(journal, "later", 1)
    assert _stored(journal)["started_at"] == "5.0"  # in that step's transaction
    journal.close()
    with DuckJournal(path, read_only=True) as reader:
        assert reader.meta()["generation"] == "1" and reader.steps()["quick"].state == "complete"


def test_only_a_start_stamp_is_held_and_a_closed_journal_keeps_it(tmp_path):
    path = tmp_path / "held.duckdb"
    journal = DuckJournal(path)
    journal.hold_start_meta()
    journal.set_meta(rollback="terminate")  # not a start stamp: written at once
    assert _stored(journal)["rollback"] == "terminate"
    journal.set_meta(started_at=5.0)  # armed once only: this one is written too
    assert _stored(journal)["started_at"] == "5.0"
    journal.hold_start_meta()
    journal.set_meta(started_at=9.0)
    journal.close()  # nothing committed since: the stamp is written at the close
    with DuckJournal(path, read_only=True) as reader:
        assert reader.meta()["started_at"] == "9.0"


def test_a_held_start_stamp_goes_with_the_result_and_a_sleep(tmp_path, monkeypatch):
    path = tmp_path / "held.duckdb"
    journal = DuckJournal(path)
    journal.hold_start_meta()
    journal.set_meta(generation=1, started_at=5.0)
    journal.set_result(RunResult(InstanceStatus.COMPLETE, output="1", ended_at=6.0))
    assert _stored(journal)["started_at"] == "5.0" and _stored(journal)["status"] == "complete"
    journal.hold_start_meta()
    journal.set_meta(started_at=8.0)
    monkeypatch.setattr(journal_meta, "HOLD_SECONDS", 0.0)  # held long enough
    journal.begin_step(StepRecord(key="nap", name="nap", kind="sleep", seq=1, started_at=8.0))
    assert _stored(journal)["started_at"] == "8.0" and "nap" in journal.steps()
    journal.close()


def _stored(journal: DuckJournal) -> dict[str, str]:
    """The meta rows written to the journal's file (not the ones it holds back)."""
    return dict(journal._db.execute("SELECT key, value FROM meta").fetchall())
