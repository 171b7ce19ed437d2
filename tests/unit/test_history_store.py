"""The history store: finished journals folded into one file, read back unchanged."""

from __future__ import annotations

import pytest

from pyflow_actors.engine import AttemptRecord, EventRecord, RunResult, StepRecord
from pyflow_actors.errors import PyflowError
from pyflow_actors.models import InstanceStatus
from pyflow_actors.storage.formats import CURRENT, JOURNAL
from pyflow_actors.storage.history import HistoryStore, open_instance, restore_journal
from pyflow_actors.storage.journal import DuckJournal, journal_path, step_infos
from pyflow_actors.storage.registry import InstanceRow
from pyflow_actors.storage.starts import starts_path

WF = "wf"


def finished_journal(root, instance_id: str) -> InstanceRow:
    """A journal with a retried step, a consumed and a pending event, a sleep and a result."""
    path = journal_path(root, WF, instance_id)
    with DuckJournal(path) as journal:
        journal.set_meta(workflow=WF, instance_id=instance_id, params='{"x":1}', generation=1,
                         created_at=1.0, started_at=1.5, version_id="v-1")  # fmt: skip
        journal.begin_step(StepRecord("a", "a", "step", 1, 2.0, config='{"retries":{}}'))
        journal.begin_attempt("a", AttemptRecord(1, 2.0))
        journal.end_attempt("a", 1, 2.5, ("ValueError", "no"))
        journal.begin_attempt("a", AttemptRecord(2, 3.0))
        journal.end_attempt("a", 2, 3.5, None, finish="complete", output='{"n":1}')
        journal.begin_step(StepRecord("nap", "nap", "sleep", 2, 4.0, wake_at=5.0))
        journal.finish_step("nap", "complete", 5.0)
        journal.begin_step(StepRecord("w", "w", "waitForEvent", 3, 6.0, event_type="go"))
        journal.add_events([EventRecord("e1", "go", '"yes"', 6.5), EventRecord("e2", "x", "2", 7)])
        journal.consume_event("w", "e1", 7.0, '{"type":"go"}')
        journal.set_result(RunResult(InstanceStatus.COMPLETE, output='"done"', ended_at=8.0))
    return InstanceRow(WF, instance_id, InstanceStatus.COMPLETE, '{"x":1}', 1.0, started_at=1.5,
                       ended_at=8.0, output='"done"', version_id="v-1")  # fmt: skip


def read(root, instance_id: str, store: HistoryStore):
    with store.session() as session, open_instance(root, WF, instance_id, session) as journal:
        assert journal is not None
        return step_infos(journal), journal.meta(), journal.result(), journal.pending_events()


def test_folding_removes_the_journal_and_readers_get_the_same_steps(tmp_path):
    row = finished_journal(tmp_path, "i-1")
    store = HistoryStore(tmp_path)
    before = read(tmp_path, "i-1", store)
    report = store.fold([row])
    path = journal_path(tmp_path, WF, "i-1")
    assert report.folded == [("wf", "i-1")] and report.removed == 1
    assert not path.exists() and not starts_path(path).exists()
    after = read(tmp_path, "i-1", store)
    assert after == before
    infos = after[0]
    assert [s.name for s in infos] == ["a", "nap", "w"]
    assert [a.success for a in infos[0].attempts] == [False, True]
    assert after[2] is not None and after[2].output == '"done"'
    assert [e.event_id for e in after[3]] == ["e2"]


def test_a_batch_is_folded_at_once_and_a_refold_replaces_only_its_own_copies(tmp_path):
    rows = [finished_journal(tmp_path, f"i-{n}") for n in range(3)]
    store = HistoryStore(tmp_path)
    saved = journal_path(tmp_path, WF, "i-1").read_bytes()
    assert len(store.fold(rows).folded) == 3
    journal_path(tmp_path, WF, "i-1").write_bytes(saved)
    assert store.fold([rows[1]]).folded == [("wf", "i-1")]
    with store.session() as session:
        held = session._db.execute(  # type: ignore[union-attr]
            "SELECT instance_id, count(*) FROM folded GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert held == [("i-0", 1), ("i-1", 1), ("i-2", 1)]


def test_a_refold_after_a_crash_between_copy_and_delete_never_doubles_rows(tmp_path):
    row = finished_journal(tmp_path, "i-1")
    store = HistoryStore(tmp_path)
    saved = journal_path(tmp_path, WF, "i-1").read_bytes()
    store.fold([row])
    journal_path(tmp_path, WF, "i-1").write_bytes(saved)  # the file the crash left behind
    assert store.fold([row]).removed == 1
    store.fold([row])  # and once more, with nothing left to remove
    with store.session() as session:
        count = session._db.scalar("SELECT count(*) FROM folded")  # type: ignore[union-attr]
    assert count == 1
    assert not journal_path(tmp_path, WF, "i-1").exists()


def test_the_journal_wins_over_the_store_while_both_exist(tmp_path):
    row = finished_journal(tmp_path, "i-1")
    store = HistoryStore(tmp_path)
    store.fold([InstanceRow(WF, "i-1", InstanceStatus.COMPLETE, None, 1.0)])
    # The fold above copied the journal; a journal written again (a restart) is read instead.
    finished_journal(tmp_path, "i-1")
    with DuckJournal(journal_path(tmp_path, WF, "i-1")) as journal:
        journal.set_meta(generation=2)
    with store.session() as session, open_instance(tmp_path, WF, "i-1", session) as journal:
        assert isinstance(journal, DuckJournal) and journal.meta()["generation"] == "2"
    assert row.key == ("wf", "i-1")


def test_the_store_rebuilds_registry_rows_and_forgets_removed_instances(tmp_path):
    rows = [finished_journal(tmp_path, f"i-{n}") for n in range(3)]
    rows[2].status, rows[2].error_name = InstanceStatus.ERRORED, "Boom"
    store = HistoryStore(tmp_path)
    store.fold(rows)
    with store.session() as session:
        assert [(r.id, r.status, r.error_name) for r in session.rows()] == [
            ("i-0", InstanceStatus.COMPLETE, None),
            ("i-1", InstanceStatus.COMPLETE, None),
            ("i-2", InstanceStatus.ERRORED, "Boom"),
        ]
        session.remove([("wf", "i-1")])
        assert session.keys() == {("wf", "i-0"), ("wf", "i-2")}
        assert session.view(WF, "i-1") is None


def test_an_instance_that_never_started_is_folded_with_its_row_only(tmp_path):
    row = InstanceRow(WF, "q-1", InstanceStatus.TERMINATED, None, 1.0, ended_at=2.0)
    store = HistoryStore(tmp_path)
    assert store.fold([row]).folded == [("wf", "q-1")]
    with store.session() as session:
        assert [r.status for r in session.rows()] == [InstanceStatus.TERMINATED]
        view = session.view(WF, "q-1")
    assert view is not None and view.steps() == {} and view.meta() == {}


def test_unfold_writes_back_a_journal_that_replays_like_the_original(tmp_path):
    row = finished_journal(tmp_path, "i-1")
    store = HistoryStore(tmp_path)
    before = read(tmp_path, "i-1", store)
    store.fold([row])
    with store.session() as session:
        assert session.unfold(WF, "i-1")
        assert session.keys() == set()
    path = journal_path(tmp_path, WF, "i-1")
    assert path.exists() and not path.with_name(path.name + ".restoring").exists()
    assert not path.with_name(path.name + ".restoring.wal").exists()
    with DuckJournal(path) as journal:  # writable again: a restart resets it
        assert (step_infos(journal), journal.meta(), journal.result()) == before[:3]
        assert [e.event_id for e in journal.all_events()] == ["e1", "e2"]
        journal.reset(2, keep_before="nap")
        assert list(journal.steps()) == ["a"]


def test_a_read_only_store_reads_without_creating_the_file(tmp_path):
    store = HistoryStore(tmp_path, read_only=True)
    with store.session() as session:
        assert session.view(WF, "none") is None
    with pytest.raises(PyflowError, match="read-only"):
        store.fold([InstanceRow(WF, "x", InstanceStatus.COMPLETE, None, 1.0)])
    assert not (tmp_path / "history.duckdb").exists()


def test_restore_refuses_nothing_and_keeps_the_format_stamp(tmp_path):
    row = finished_journal(tmp_path, "i-1")
    store = HistoryStore(tmp_path)
    store.fold([row])
    with store.session() as session:
        view = session.view(WF, "i-1")
    assert view is not None
    path = tmp_path / "copy.duckdb"
    restore_journal(view, path)
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["format_version"] == str(CURRENT[JOURNAL])
        assert journal.event_count() == 2


def test_a_store_written_by_a_newer_release_is_refused_not_misread(tmp_path, monkeypatch):
    from pyflow_actors.errors import StorageFormatTooNew
    from pyflow_actors.storage import formats

    store = HistoryStore(tmp_path)
    store.fold([finished_journal(tmp_path, "i-1")])
    monkeypatch.setitem(formats.CURRENT, formats.HISTORY, 0)  # this release is older
    with pytest.raises(StorageFormatTooNew), store.session():
        pass
    with pytest.raises(StorageFormatTooNew), HistoryStore(tmp_path, read_only=True).session():
        pass


@pytest.mark.parametrize("kept", [0, 4096, 8192])
def test_a_store_whose_creation_was_cut_off_by_a_full_disk_is_created_afresh(tmp_path, kept):
    # What a full disk left in a chaos run: DuckDB wrote part of its headers, then
    # ENOSPC; the engine then refused to start ("not a valid DuckDB database file").
    model = HistoryStore(tmp_path / "model")
    with model.session():
        pass
    header = model.path.read_bytes()[:kept]
    store = HistoryStore(tmp_path)
    store.path.write_bytes(header)
    with HistoryStore(tmp_path, read_only=True).session() as session:
        assert session.view(WF, "i-1") is None  # read as an empty store, not as corrupt
    row = finished_journal(tmp_path, "i-1")
    assert store.fold([row]).folded == [("wf", "i-1")]
    assert read(tmp_path, "i-1", store)[2] is not None
    kept = list(tmp_path.glob("history.duckdb.unfinished-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == header  # set aside, never deleted


def test_a_damaged_store_past_its_headers_is_still_reported_corrupt(tmp_path):
    store = HistoryStore(tmp_path)
    store.path.write_bytes(b"\x07" * 3 * 4096)
    with pytest.raises(PyflowError, match="cannot be opened or read"), store.session():
        pass
    assert store.path.stat().st_size == 3 * 4096  # kept for a post-mortem, never removed
