"""One commit per step, and an attempt's start survives the death of its process."""

from __future__ import annotations

import pytest

from pyflow_actors.engine import AttemptRecord, StepRecord
from pyflow_actors.storage.journal import DuckJournal, journal_path
from pyflow_actors.storage.starts import starts_path


@pytest.fixture
def path(tmp_path):
    return journal_path(tmp_path, "wf", "i-1")


def _begin(journal: DuckJournal, key: str = "a", n: int = 1) -> None:
    if n == 1:
        journal.begin_step(StepRecord(key=key, name=key, kind="step", seq=1, started_at=1.0))
    journal.begin_attempt(key, AttemptRecord(n=n, started_at=float(n)))


def _die(journal: DuckJournal) -> None:
    """What kill -9 leaves: nothing committed beyond what was, the start log file."""
    journal._starts.close()
    journal._db.close()


def _count_commits(journal: DuckJournal) -> list[str]:
    seen: list[str] = []
    execute = journal._db.execute

    def spy(sql: str, params=None):
        seen.append(sql.split()[0].upper())
        return execute(sql, params)

    journal._db.execute = spy  # type: ignore[method-assign]
    return seen


def test_a_step_its_first_attempt_ends_costs_one_statement(path):
    with DuckJournal(path) as journal:
        seen = _count_commits(journal)
        _begin(journal)
        assert seen == []  # the start is not a commit of its own
        journal.end_attempt("a", 1, 2.0, None, finish="complete", output="42")
        assert seen == ["INSERT"]  # the step's row alone: its attempt is read from it
        step = journal.steps()["a"]
    assert step.state == "complete" and step.output == "42"
    assert [(a.n, a.ended_at, a.error_name) for a in step.attempts] == [(1, 2.0, None)]
    with DuckJournal(path, read_only=True) as reader:  # and so it reads from the file
        [attempt] = reader.steps()["a"].attempts
    assert (attempt.n, attempt.started_at, attempt.ended_at, attempt.failed) == (1, 1.0, 2.0, False)


def test_a_step_failed_by_its_only_attempt_reads_back_that_attempt_s_error(path):
    with DuckJournal(path) as journal:
        _begin(journal)
        journal.end_attempt("a", 1, 2.0, ("ValueError", "no"), finish="failed")
    with DuckJournal(path, read_only=True) as reader:
        step = reader.steps()["a"]
    assert step.state == "failed" and step.error_name == "ValueError"
    assert [(a.n, a.error_name, a.error_message) for a in step.attempts] == [
        (1, "ValueError", "no")
    ]


def test_a_step_with_retries_commits_each_attempt_in_one_transaction(path):
    with DuckJournal(path) as journal:
        seen = _count_commits(journal)
        _begin(journal)
        journal.end_attempt("a", 1, 2.0, ("ValueError", "no"))  # a retry follows
        _begin(journal, n=2)
        journal.end_attempt("a", 2, 3.0, None, finish="complete", output="1")
        assert seen.count("BEGIN") == 2 and seen.count("COMMIT") == 2
    with DuckJournal(path, read_only=True) as reader:
        attempts = reader.steps()["a"].attempts
    assert [(a.n, a.error_name) for a in attempts] == [(1, "ValueError"), (2, None)]


def test_a_running_step_is_visible_before_its_commit(path):
    journal = DuckJournal(path)
    _begin(journal)
    step = journal.steps()["a"]
    assert step.state == "running" and step.attempts[0].ended_at is None
    _die(journal)  # (DuckDB lets one process at a time attach the file)
    with DuckJournal(path, read_only=True) as reader:  # describe, before any rehydration
        assert reader.steps()["a"].attempts[0].started_at == 1.0


def test_an_attempt_started_before_a_kill_is_there_after_it(path):
    journal = DuckJournal(path)
    _begin(journal)
    journal.end_attempt("a", 1, 1.5, ("ValueError", "flaky"))  # attempt 1 failed, committed
    _begin(journal, n=2)  # attempt 2 in flight when the process is killed
    _die(journal)
    assert starts_path(path).exists()
    with DuckJournal(path) as reopened:
        attempts = reopened.steps()["a"].attempts
        assert [(a.n, a.ended_at) for a in attempts] == [(1, 1.5), (2, None)]
        assert not starts_path(path).exists()  # committed into the journal
    with DuckJournal(path) as again:  # and nothing twice
        assert len(again.steps()["a"].attempts) == 2


def test_a_start_cut_short_by_the_kill_is_ignored(path):
    journal = DuckJournal(path)
    _begin(journal)
    _die(journal)
    with starts_path(path).open("a") as f:
        f.write('{"attempt":["a",2,')  # the kill landed inside the write
    with DuckJournal(path) as reopened:
        assert [a.n for a in reopened.steps()["a"].attempts] == [1]


def test_a_restart_erases_the_starts_too(path):
    with DuckJournal(path) as journal:
        _begin(journal)
        journal.reset(2)
        assert journal.steps() == {}
    assert not starts_path(path).exists()
