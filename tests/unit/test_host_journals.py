"""A shared host's journal write path: how few commits an instance costs, and
what a journal looks like once its host lets go of it (issue 17's targets).

The host runs in-process (no Ray): the same :class:`InstanceHost` a Ray host
actor wraps, with real DuckDB journals in a temp folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pyflow_actors import instance_logs
from pyflow_actors.engine import OutcomeKind
from pyflow_actors.errors import JournalLocked
from pyflow_actors.models import InstanceStatus
from pyflow_actors.runtime import host as host_module
from pyflow_actors.runtime.host import InstanceHost
from pyflow_actors.runtime.protocol import InstanceSetup, RunRequest
from pyflow_actors.storage import duck
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.storage.journal_stock import JournalStock
from tests.unit.fake_hosts import echo_setup

pytestmark = pytest.mark.timeout(30)

WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE")


async def run_on_host(host: InstanceHost, setup: InstanceSetup, generation: int = 1) -> Any:
    key = (setup.workflow, setup.instance_id)
    await host.place(setup, f"token-{generation}")
    outcome = await host.run(key, RunRequest(generation, '{"n": 1}', created_at=1.0))
    assert await host.evict(key)
    return outcome


def commits(statements: list[str]) -> int:
    """Transactions committed: explicit COMMITs plus writes made outside a transaction."""
    count, open_transaction = 0, False
    for sql in statements:
        verb = sql.split(None, 1)[0].upper()
        if verb == "BEGIN":
            open_transaction = True
        elif verb in ("COMMIT", "ROLLBACK"):
            count += verb == "COMMIT"
            open_transaction = False
        elif verb in WRITES and not open_transaction:
            count += 1
    return count


@pytest.fixture(autouse=True)
def _no_capture_left() -> Iterator[None]:
    """A runner captures print() process-wide: undo it for the tests that follow."""
    yield
    instance_logs.uninstall()


@pytest.fixture
def journal_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement the journals run (they all go through GuardedConnection)."""
    seen: list[str] = []
    execute = duck.GuardedConnection.execute

    def counting(self: duck.GuardedConnection, sql: str, params: Any = None) -> Any:
        seen.append(sql.strip())
        return execute(self, sql, params)

    monkeypatch.setattr(duck.GuardedConnection, "execute", counting)
    yield seen


def test_a_one_step_instance_costs_three_journal_commits_on_a_host(
    tmp_path, journal_statements, monkeypatch
):
    monkeypatch.setattr(JournalStock, "refill", lambda self: 0)  # no journal made ahead

    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path, "one")
        await host.place(setup, "token")
        outcome = await host.run(("echo", "one"), RunRequest(1, "1", created_at=1.0))
        assert outcome.kind == OutcomeKind.COMPLETE
        # The file's format stamp, the step (start, attempt and result together,
        # with the instance's meta and start time), the instance's result.
        assert commits(journal_statements) == 3, journal_statements
        # The meta table is read once: the journal is its only writer.
        assert sum("FROM meta" in sql for sql in journal_statements) == 1
        await host.close()

    asyncio.run(scenario())


def test_a_new_instance_takes_a_journal_made_ahead_and_commits_twice(tmp_path, journal_statements):
    async def scenario() -> None:
        host = InstanceHost("h")
        warm = echo_setup(tmp_path, "warm")  # the first placement starts the stock
        await run_on_host(host, warm)
        await asyncio.gather(*host._refilling.values())
        [stock] = host._stocks.values()
        assert len(stock._ready()) == stock.size
        journal_statements.clear()
        setup = echo_setup(tmp_path, "claimed")
        await host.place(setup, "token")
        outcome = await host.run(("echo", "claimed"), RunRequest(1, "1", created_at=1.0))
        assert outcome.kind == OutcomeKind.COMPLETE and stock.claimed == 1
        assert commits(journal_statements) == 2, journal_statements  # step, result (+ meta)
        # The start stamp waits for the result: the step is one INSERT, no transaction.
        assert not any(sql.startswith("BEGIN") for sql in journal_statements), journal_statements
        assert not any("CREATE TABLE" in sql for sql in journal_statements)
        # Its meta keys are new to the file: plain inserts (a replace costs ~2.5x more).
        assert not any("OR REPLACE INTO meta" in sql for sql in journal_statements)
        # Made empty by this host: neither its format nor its rows are read back.
        reads = [sql for sql in journal_statements if sql.upper().startswith("SELECT")]
        assert reads == [], reads
        await host.evict(("echo", "claimed"))
        await asyncio.gather(*host._refilling.values())
        assert len(stock._ready()) == stock.size  # made again once the instance ended
        with DuckJournal(Path(setup.journal_path), read_only=True) as journal:
            assert journal.steps()["echo"].state == "complete"
        await host.close()
        assert not stock.folder.exists()

    asyncio.run(scenario())


def test_a_host_lets_go_of_a_journal_without_a_checkpoint_and_its_log_keeps_everything(
    tmp_path,
):
    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path, "logged")
        await run_on_host(host, setup)
        path = Path(setup.journal_path)
        wal = path.with_name(path.name + ".wal")
        assert wal.exists() and path.stat().st_size < 20_000  # 124 KB once checkpointed
        with DuckJournal(path, read_only=True) as journal:  # another process reads it whole
            assert journal.steps()["echo"].state == "complete"
            assert journal.result().status is InstanceStatus.COMPLETE  # type: ignore[union-attr]
        again = await run_on_host(host, setup)  # placed again: the journal's result stands
        assert again.kind == OutcomeKind.COMPLETE
        await host.close()

    asyncio.run(scenario())


def test_a_journal_whose_log_grew_past_the_limit_is_checkpointed_when_let_go(tmp_path, monkeypatch):
    monkeypatch.setattr(host_module, "WAL_CHECKPOINT_BYTES", 0)

    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path, "folded")
        await run_on_host(host, setup)
        path = Path(setup.journal_path)
        assert not path.with_name(path.name + ".wal").exists()
        with DuckJournal(path, read_only=True) as journal:
            assert journal.steps()["echo"].state == "complete"
        await host.close()

    asyncio.run(scenario())


def test_a_restart_on_a_host_still_erases_the_history_of_the_earlier_generation(tmp_path):
    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path, "again")
        await run_on_host(host, setup)
        with DuckJournal(Path(setup.journal_path), read_only=True) as journal:
            first = journal.steps()["echo"].started_at
        outcome = await run_on_host(host, setup, generation=2)
        assert outcome.kind == OutcomeKind.COMPLETE
        with DuckJournal(Path(setup.journal_path), read_only=True) as journal:
            assert journal.meta()["generation"] == "2"
            [step] = journal.steps().values()  # the step ran again, in the new generation
            assert step.started_at > first and len(step.attempts) == 1
        await host.close()

    asyncio.run(scenario())


def test_reopening_a_journal_runs_no_schema_unless_a_table_is_missing(tmp_path, journal_statements):
    path = tmp_path / "j.duckdb"
    DuckJournal(path).close()
    journal_statements.clear()
    DuckJournal(path).close()
    assert not any(sql.startswith("CREATE") for sql in journal_statements)
    with DuckJournal(path) as journal:
        journal._db.execute("DROP TABLE events")  # a table added by a later release, say
    with DuckJournal(path) as journal:
        assert journal.pending_events() == []  # made again on open


def test_a_journal_left_attached_on_the_host_is_let_go_when_its_instance_is_placed_again(
    tmp_path,
):
    async def scenario() -> None:
        host = InstanceHost("h")
        setup = echo_setup(tmp_path, "stale")
        await run_on_host(host, setup)
        path = Path(setup.journal_path)
        leaked = host_module._open_journal(path, host._database, None)  # never closed
        outcome = await run_on_host(host, setup)
        assert outcome.kind == OutcomeKind.COMPLETE  # not JournalCorrupt
        assert leaked._shared is False  # closed: detached from the host's DuckDB
        await host.close()

    asyncio.run(scenario())


def test_a_journal_still_attached_in_this_process_is_locked_not_corrupt(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = DuckJournal(path)  # attached by another DuckDB instance of this process
    try:
        with pytest.raises(JournalLocked, match="already attached"):
            DuckJournal(path, database=duckdb.connect(":memory:"))
    finally:
        holder.close()
    DuckJournal(path, database=duckdb.connect(":memory:")).close()  # free once let go


def test_a_meta_key_the_journal_holds_is_replaced_and_a_new_one_inserted(
    tmp_path, journal_statements
):
    with DuckJournal(tmp_path / "j.duckdb") as journal:
        journal.meta()  # read once: the journal knows which keys the file holds
        journal.set_meta(status="running", note="a")
        journal.set_meta(status="complete")  # held already: replaced, not a duplicate key
        journal.set_meta(output="1")
    with DuckJournal(tmp_path / "j.duckdb", read_only=True) as journal:
        assert {k: journal.meta()[k] for k in ("status", "note", "output")} == {
            "status": "complete", "note": "a", "output": "1",
        }  # fmt: skip
    writes = [sql.split(" VALUES")[0] for sql in journal_statements if "INTO meta" in sql]
    assert writes[-3:] == [
        "INSERT INTO meta", "INSERT OR REPLACE INTO meta", "INSERT INTO meta",
    ]  # fmt: skip
