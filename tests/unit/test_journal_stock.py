"""Journals made ahead of need (storage/journal_stock.py): a claim never harms a
journal, and an unclaimed file is never taken for an instance."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from pyflow_actors.runtime.supervisor import recovery
from pyflow_actors.runtime.supervisor.table import InstanceTable
from pyflow_actors.storage.formats import CURRENT, JOURNAL
from pyflow_actors.storage.journal import DuckJournal, journal_path
from pyflow_actors.storage.journal_stock import MAX_STOCK, JournalStock
from pyflow_actors.storage.registry import Registry
from pyflow_actors.upgrade.offline import journals


@pytest.fixture
def database():
    db = duckdb.connect(":memory:")
    db.execute("PRAGMA disable_checkpoint_on_shutdown")  # as a shared host's
    yield db
    db.close()


def test_a_claimed_journal_opens_stamped_and_empty_and_keeps_what_is_written(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=2)
    assert stock.refill() == 2
    path = journal_path(tmp_path, "wf", "a")
    assert stock.claim(path) and len(stock._ready()) == 1
    with DuckJournal(path, database=database) as journal:
        assert journal.meta() == {"format_version": str(CURRENT[JOURNAL])} and journal.steps() == {}
        journal.set_meta(workflow="wf")
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["workflow"] == "wf"


def test_a_claim_never_replaces_a_journal_that_exists(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=1)
    stock.refill()
    path = journal_path(tmp_path, "wf", "kept")
    with DuckJournal(path) as journal:
        journal.set_meta(workflow="wf", marker="mine")
    assert not stock.claim(path)
    with DuckJournal(path, read_only=True) as journal:
        assert journal.meta()["marker"] == "mine"
    assert len(stock._ready()) == 1  # still in stock


def test_a_stocked_file_linked_twice_is_dropped_not_handed_out(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=1)
    stock.refill()
    [ready] = stock._ready()
    half_claimed = journal_path(tmp_path, "wf", "killed-mid-claim")
    half_claimed.parent.mkdir(parents=True)
    os.link(ready, half_claimed)  # a claimer killed between link and unlink
    assert not stock.claim(journal_path(tmp_path, "wf", "next"))
    assert stock._ready() == [] and half_claimed.exists()


def test_unclaimed_journals_are_never_taken_for_instances(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=3)
    stock.refill()
    stock.claim(journal_path(tmp_path, "wf", "real"))
    assert [i for _, i, _ in journals(tmp_path)] == ["real"]  # pyflow check's scan
    registry = Registry(tmp_path)
    try:
        rows = recovery.rebuild_rows(InstanceTable(registry, tmp_path))
    finally:
        registry.close()
    assert [row.id for row in rows] == ["real"]


def test_the_stock_of_a_process_that_is_gone_is_removed_when_a_host_starts_its_own(
    tmp_path, database
):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    live, other = JournalStock(tmp_path, database, size=1), JournalStock(tmp_path, database, size=1)
    live.refill()
    other.refill()
    dead = other.folder.with_name(f"{gone.stdout.strip()}-0000")
    other.folder.rename(dead)
    JournalStock(tmp_path, database, size=1)
    assert not dead.exists()
    assert len(live._ready()) == 1  # a live process's stock is left alone


def test_stocked_journals_are_copies_of_one_template_each_its_own_file(
    tmp_path, database, monkeypatch
):
    made_by_duckdb = []
    real_init = DuckJournal.__init__

    def counting_init(self, path, **kwargs):
        made_by_duckdb.append(path)
        real_init(self, path, **kwargs)

    monkeypatch.setattr(DuckJournal, "__init__", counting_init)
    stock = JournalStock(tmp_path, database, size=3)
    assert stock.refill() == 3
    assert len(made_by_duckdb) == 1  # the template; the three are copies of it
    monkeypatch.setattr(DuckJournal, "__init__", real_init)
    paths = [journal_path(tmp_path, "wf", name) for name in ("a", "b")]
    for name, path in zip(("a", "b"), paths, strict=True):
        assert stock.claim(path)
        with DuckJournal(path, database=database) as journal:
            assert journal.meta() == {"format_version": str(CURRENT[JOURNAL])}
            journal.set_meta(workflow="wf", marker=name)
    for name, path in zip(("a", "b"), paths, strict=True):
        with DuckJournal(path, read_only=True) as journal:
            assert journal.meta()["marker"] == name
    assert [p.name for p in stock._ready()] != [] and not any(
        p.name.startswith("template") for p in stock._ready()
    )


def test_a_claim_that_finds_the_stock_empty_makes_the_next_refill_larger(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=2)
    assert stock.refill() == 2
    targets = [journal_path(tmp_path, "wf", f"i{n}") for n in range(3)]
    assert [stock.claim(path) for path in targets] == [True, True, False]  # a burst of 3
    assert stock.missed == 1 and stock.size == 4  # doubled
    assert stock.refill() == 4 and len(stock._ready()) == 4
    for n in range(12):  # a long burst: never beyond a host's instances
        stock.claim(journal_path(tmp_path, "wf", f"burst{n}"))
    assert stock.size == MAX_STOCK


def test_a_miss_while_the_first_refill_is_under_way_does_not_grow_the_stock(tmp_path, database):
    stock = JournalStock(tmp_path, database, size=2)  # nothing made yet
    assert not stock.claim(journal_path(tmp_path, "wf", "early"))
    assert stock.missed == 1 and stock.size == 2
