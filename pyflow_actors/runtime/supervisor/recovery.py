"""Recovery: what a (re)started supervisor does before it serves anyone.

1. Rows the registry does not know (registry lost, corrupt, or behind) are
   rebuilt: a finished instance whose journal was folded comes back from the
   history store with its row as it was folded; the others from the
   journals, the source of truth: a finished
   instance comes back with its result; any other comes back queued first in
   line and replays its journal when it runs; a journal still locked by a live
   actor comes back running (and is adopted below). Then the create log
   brings back the accepted instances that have no journal yet (queued,
   never started), in the order they were accepted, behind the others.
2. Every row continues: running ones re-adopt their live actor by name (its
   ``run`` is idempotent) or go back in line; queued ones go in line; waiting
   ones are re-armed, and woken at once when due or when their event is in.
   Each adopted row is handed to ``adopted``: one its host holds until its
   alarm (pre-activated) is held again, showing waiting, with no running slot.
3. Adopted dedicated actors are asked what their run waits for in its process
   (:func:`learn_waits`): the notices they sent while no supervisor listened were
   lost, and a run sleeping or waiting for an event live would show running until
   its wait changed. (A shared host tells it again itself when its run is adopted.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ...engine.waits import WaitSummary
from ...errors import JournalCorrupt, JournalLocked, PyflowError, StorageFormatTooNew
from ...models import FINAL_STATUSES, InstanceStatus, StepInfo
from ...storage.create_log import CreateEntry
from ...storage.history import open_instance
from ...storage.journal import DuckJournal, journal_path, step_infos
from ...storage.registry import InstanceRow
from .actors import InstanceActors, Live
from .alarms import Alarms
from .scheduler import NEW, RESUMING, Scheduler
from .table import InstanceTable, Key
from .transitions import Transitions

log = logging.getLogger("pyflow.supervisor")
LIVE = (InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE)
# How long recovery waits for adopted actors to say what they wait for before it
# serves anyone (later answers still count when they come).
ADOPTED_WAIT_SECONDS = 2.0


def rebuild_rows(table: InstanceTable, folded: Sequence[InstanceRow] = ()) -> list[InstanceRow]:
    """Rows the table does not know: finished instances from the history store
    (``folded``: the rows it holds; a journal left beside one by a crash mid-fold
    is not read, the store's row has the final status), then from journals, then
    from the create log."""
    rows = [_row_from_store(table, r) for r in folded if table.get(r.key) is None]
    known = {r.key for r in rows}
    rows += [r for r in _rows_from_journals(table) if r.key not in known]
    known |= {r.key for r in rows}
    for entry in table.creates.entries():
        if entry.key not in known and table.get(entry.key) is None:
            known.add(entry.key)
            rows.append(_row_from_create(table, entry))
    return rows


def catch_up_from_store(table: InstanceTable, folded: Sequence[InstanceRow]) -> int:
    """Rows behind the history store take its final state; how many. (A registry
    restored from an old copy says running or queued: the store holds the instance
    finished, and its journal is gone, so running it again would run every step.)"""
    caught_up = 0
    for stored in folded:
        row = table.get(stored.key)
        if row is None or row.status in FINAL_STATUSES or row.generation > stored.generation:
            continue
        row.generation, row.started_at, row.ended_at = (
            stored.generation,
            stored.started_at,
            stored.ended_at,
        )
        row.output, row.error_name, row.error_message = (
            stored.output,
            stored.error_name,
            stored.error_message,
        )
        row.terminated_by, row.wake_at, row.waiting_for, row.paused_from = (
            stored.terminated_by,
            None,
            [],
            None,
        )
        table.set_status(row, stored.status)
        caught_up += 1
    return caught_up


def _row_from_store(table: InstanceTable, row: InstanceRow) -> InstanceRow:
    row.queue_seq = table.next_seq()
    return row


def _row_from_create(table: InstanceTable, entry: CreateEntry) -> InstanceRow:
    return InstanceRow(
        entry.workflow,
        entry.id,
        InstanceStatus.QUEUED,
        entry.params,
        entry.created_at,
        queue_seq=table.next_seq(),
        priority=NEW,
        request_id=entry.request_id,
        version_id=entry.version_id,
    )


def _rows_from_journals(table: InstanceTable) -> list[InstanceRow]:
    root = table.storage / "journals"
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.duckdb")):
            key = (folder.name, path.name[: -len(".duckdb")])
            if table.get(key) is None:
                row = _row_from_journal(table, path, key)
                if row is not None:
                    rows.append(row)
    return rows


def _row_from_journal(table: InstanceTable, path: Path, key: Key) -> InstanceRow | None:
    workflow, instance_id = key
    row = InstanceRow(
        workflow,
        instance_id,
        InstanceStatus.QUEUED,
        None,
        path.stat().st_mtime,
        queue_seq=table.next_seq(),
        priority=RESUMING,
    )
    try:
        with DuckJournal(path, read_only=True) as journal:
            meta, result = journal.meta(), journal.result()
    except JournalLocked:
        row.status = InstanceStatus.RUNNING  # its actor is alive and holds it: adopt it
        return row
    except StorageFormatTooNew as exc:  # a newer release's instance: never touch it
        log.error("journal %s: %s: left alone", path, exc.message)
        return None
    except JournalCorrupt as exc:
        row.status, row.ended_at = InstanceStatus.ERRORED, time.time()
        row.error_name, row.error_message = "JournalCorrupt", str(exc)
        return row
    if meta.get("workflow") not in (None, workflow) or meta.get("instance_id") not in (
        None,
        instance_id,
    ):
        log.error("journal %s belongs to another instance: left alone", path)
        return None
    row.params = meta.get("params")
    row.created_at = float(meta.get("created_at") or row.created_at)
    row.started_at = float(meta["started_at"]) if meta.get("started_at") else None
    row.generation = int(meta.get("generation") or 1)
    if result is not None:
        row.status, row.output, row.ended_at = (
            InstanceStatus(result.status),
            result.output,
            result.ended_at,
        )
        row.error_name, row.error_message = result.error_name, result.error_message
    return row


def continue_all(
    table: InstanceTable,
    scheduler: Scheduler,
    alarms: Alarms,
    actors: InstanceActors,
    transitions: Transitions,
    adopted: Callable[[InstanceRow, Live], None] = lambda row, live: None,
) -> None:
    """Every non-final row goes on from where it stands (oldest first)."""
    for row in sorted(table, key=lambda r: r.queue_seq):
        if row.status in LIVE:
            handle = actors.backend.find(row.workflow, row.id)
            if handle is not None:
                adopted(row, actors.adopt(row, handle))
            else:
                transitions.queue(row)
        elif row.status == InstanceStatus.QUEUED:
            scheduler.push(row)
        elif row.status == InstanceStatus.WAITING:
            alarms.arm(row)
            transitions.wake_if_due(row)


def take_wait_report(live: Live, generation: int, report: int, wait: WaitSummary | None) -> bool:
    """Take an actor's ``report`` of its run's wait, unless it is of another
    generation or older than one taken (notices and answers may cross)."""
    if live.generation != generation or report <= live.wait_report:
        return False
    live.waiting, live.wait_report = wait, report
    return True


async def learn_waits(lives: Iterable[Live], timeout: float = ADOPTED_WAIT_SECONDS) -> None:
    """Ask each adopted actor what its run waits for in its process, so that its
    status, lists, counts and ``/metrics`` show it waiting (with its wake time and
    event types) right after recovery, not running until its wait changes."""
    asks = [asyncio.ensure_future(_learn_wait(live)) for live in lives if live.handle is not None]
    if asks:
        await asyncio.wait(asks, timeout=timeout)


async def _learn_wait(live: Live) -> None:
    assert live.handle is not None
    try:
        generation, report, wait = await live.handle.current_wait()
    except Exception:  # noqa: BLE001 - gone or stuck: its monitor sees to it; a view only
        log.debug("an adopted actor did not say what it waits for", exc_info=True)
        return
    take_wait_report(live, generation, report, wait)


def read_steps(storage: Path, key: Key, wait: float = 5.0) -> list[StepInfo]:
    """The steps of an instance not live (its journal file, else its folded copy in
    the history store), waiting a moment for an exiting actor's lock."""
    deadline, path = time.monotonic() + wait, journal_path(storage, *key)
    while True:
        try:
            with open_instance(storage, *key) as journal:
                return [] if journal is None else step_infos(journal)
        except JournalCorrupt:
            # Folded while we read it: the file opened, then its write-ahead log
            # (where a killed actor's last writes are) went before DuckDB read it,
            # so the file looked empty. The store holds the whole copy: read that.
            if path.exists():
                raise
        except JournalLocked as exc:
            if time.monotonic() > deadline:
                raise PyflowError(f"cannot read the journal of this instance: {exc}") from None
            time.sleep(0.05)
