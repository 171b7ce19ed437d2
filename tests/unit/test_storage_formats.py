"""Storage formats are versioned: stamped, migrated step by step, and a newer one refused."""

from __future__ import annotations

import pytest

from pyflow_actors.errors import StorageFormatTooNew
from pyflow_actors.storage import formats as versions
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.registry import Registry


def write_journal(path, **meta) -> None:
    with DuckJournal(path) as journal:
        journal.set_meta(workflow="wf", instance_id="i", params="{}", **meta)


def set_journal_version(path, version: str | None) -> None:
    """Stamp a version by hand (None: a file from before versions existed)."""
    with DuckJournal(path) as journal:
        journal._db.execute("DELETE FROM meta WHERE key = 'format_version'")
        if version is not None:
            journal.set_meta(format_version=version)


def test_a_new_journal_is_stamped_with_the_current_version(tmp_path):
    write_journal(tmp_path / "i.duckdb")
    with DuckJournal(tmp_path / "i.duckdb", read_only=True) as journal:
        assert journal.meta()["format_version"] == str(versions.CURRENT[versions.JOURNAL])


def test_a_journal_from_before_versions_is_version_one_and_gets_stamped(tmp_path):
    path = tmp_path / "i.duckdb"
    write_journal(path)
    set_journal_version(path, None)
    with DuckJournal(path, read_only=True) as journal:  # read-only: checked, not stamped
        assert "format_version" not in journal.meta()
    with DuckJournal(path) as journal:  # version 1, migrated to this release's and stamped
        assert journal.meta()["format_version"] == str(versions.CURRENT[versions.JOURNAL])
        assert journal.meta()["workflow"] == "wf"


@pytest.mark.parametrize("read_only", [False, True])
def test_a_journal_from_a_newer_release_is_refused_and_left_as_it_is(
    tmp_path, monkeypatch, read_only
):
    path = tmp_path / "i.duckdb"
    write_journal(path)
    set_journal_version(path, "99")
    with pytest.raises(StorageFormatTooNew, match="format version 99.*upgrade pyflow-actors"):
        DuckJournal(path, read_only=read_only)
    monkeypatch.setitem(versions.CURRENT, versions.JOURNAL, 99)  # the newer release opens it
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["workflow"] == "wf"


@pytest.fixture
def two_more_journal_versions(monkeypatch):
    """A release with journal formats 2 and 3: each migration adds a meta row."""
    done: list[int] = []

    def migration(n: int):
        def migrate(db) -> None:
            done.append(n)
            db.execute("INSERT INTO meta VALUES (?, ?)", [f"migrated_{n}", "yes"])

        return migrate

    monkeypatch.setitem(versions.CURRENT, versions.JOURNAL, 3)
    monkeypatch.setitem(versions.MIGRATIONS, versions.JOURNAL, {1: migration(1), 2: migration(2)})
    return done


def test_migrations_run_one_version_step_at_a_time_then_the_file_is_stamped(
    tmp_path, two_more_journal_versions
):
    path = tmp_path / "i.duckdb"
    write_journal(path)  # stamped 3 (a new file needs no migration)
    assert two_more_journal_versions == []
    set_journal_version(path, "1")
    with DuckJournal(path) as journal:
        meta = journal.meta()
    assert two_more_journal_versions == [1, 2]
    assert meta["format_version"] == "3" and meta["migrated_1"] == meta["migrated_2"] == "yes"


def test_a_failed_migration_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "i.duckdb"
    write_journal(path)
    set_journal_version(path, "1")

    def broken(db) -> None:
        db.execute("INSERT INTO meta VALUES ('half', 'done')")
        raise RuntimeError("migration bug")

    monkeypatch.setitem(versions.CURRENT, versions.JOURNAL, 2)
    monkeypatch.setitem(versions.MIGRATIONS, versions.JOURNAL, {1: broken})
    with pytest.raises(RuntimeError, match="migration bug"):
        DuckJournal(path)
    monkeypatch.setitem(versions.CURRENT, versions.JOURNAL, 1)
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["format_version"] == "1" and "half" not in journal.meta()


def test_the_registry_is_stamped_and_one_from_before_versions_is_stamped_on_open(tmp_path):
    current = str(versions.CURRENT[versions.REGISTRY]).encode()
    registry = Registry(tmp_path)
    assert registry.get_setting("format_version") == current
    registry._db.execute("DELETE FROM settings WHERE key = 'format_version'")
    registry.set_setting("x", b"kept")
    registry.close()
    again = Registry(tmp_path)
    assert not again.recreated
    assert again.get_setting("format_version") == current and again.get_setting("x") == b"kept"
    again.close()


def test_a_registry_from_a_newer_release_is_refused_not_set_aside_as_corrupt(tmp_path):
    registry = Registry(tmp_path)
    registry.set_setting("format_version", b"7")
    registry.close()
    with pytest.raises(StorageFormatTooNew, match="registry .* format version 7"):
        Registry(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("registry")] == [
        "registry.duckdb"
    ]
