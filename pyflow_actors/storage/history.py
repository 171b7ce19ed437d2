"""The history store: finished instances, folded out of their journals into one file.

A finished instance needs its steps readable (describe, the step endpoint,
analytics, ``pyflow replay``, a restart from a step) until its retention
expires, but not a DuckDB file of its own (~12 KB for a dedicated journal,
~124 KB for a shared host's). The supervisor folds it: one row per instance
in ``<storage>/history.duckdb`` holding its journal as one JSON document
(meta, steps with their attempts, events) and its registry row (so that a
lost registry is rebuilt from here too: the store is a source of truth for
finished instances, as journals are for the others), then the journal file
and its sidecars are removed. About 1 KB per instance on disk.

Folding is idempotent: a batch of instances is copied in one transaction
that first deletes any row the store already has for them (a crash between
the copy and the removal of the files leaves both; the next fold copies the
journal again, never twice), and files are removed only after the commit.
Readers go through :func:`open_instance`, which reads the journal file when
there is one and the folded copy otherwise.

Each process has one :class:`HistoryStore` per file (:func:`history_store`) whose
lock serialises its sessions; a session attaches the file and detaches it at the
end, so that ``pyflow replay`` in another process can read it between two folds.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb

from ..engine.records import AttemptRecord, EventRecord, RunResult, StepRecord
from ..errors import JournalCorrupt, JournalLocked, PyflowError
from ..models import FINAL_STATUSES, InstanceStatus
from .duck import (
    GuardedConnection,
    cut_off_at_creation,
    is_lock_conflict,
    set_aside_unfinished,
    storage_unavailable,
    transaction,
)
from .formats import HISTORY, check_version, open_format
from .journal import DuckJournal, journal_path, remove_journal
from .registry import InstanceRow

HISTORY_FILE = "history.duckdb"
LOCK_WAIT = 5.0  # seconds a session waits for another process's hold on the file

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS folded (
    workflow VARCHAR, instance_id VARCHAR, generation INTEGER, folded_at DOUBLE,
    registry VARCHAR, journal VARCHAR
);
"""

Key = tuple[str, str]


@dataclass
class FinishedJournal:
    """A folded journal, read back: the read side of :class:`DuckJournal`."""

    values: dict[str, str] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)

    def meta(self) -> dict[str, str]:
        return dict(self.values)

    def result(self) -> RunResult | None:
        status = self.values.get("status")
        if status not in FINAL_STATUSES:
            return None
        return RunResult(
            status=InstanceStatus(status),
            output=self.values.get("output"),
            error_name=self.values.get("error_name"),
            error_message=self.values.get("error_message"),
            ended_at=float(self.values.get("ended_at") or 0),
        )

    def steps(self) -> dict[str, StepRecord]:
        return {r.key: _step(asdict(r)) for r in sorted(self.records, key=lambda r: r.seq)}

    def pending_events(self) -> list[EventRecord]:
        return [EventRecord(**asdict(e)) for e in self.events if e.consumed_by is None]

    def all_events(self) -> list[EventRecord]:
        return [EventRecord(**asdict(e)) for e in self.events]

    def event_count(self) -> int:
        return len(self.events)

    def close(self) -> None:
        """Nothing to let go of (the journal interface's ``close``)."""

    def __enter__(self) -> FinishedJournal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the stored document ------------------------------------------------

    @classmethod
    def of(cls, journal: DuckJournal | FinishedJournal) -> FinishedJournal:
        """A copy of everything a reader of ``journal`` gets."""
        return cls(journal.meta(), list(journal.steps().values()), journal.all_events())

    def to_json(self) -> str:
        """Compact: fields at their default (None, False) are left out (~30% smaller)."""
        steps = []
        for record in self.records:
            values = _compact(asdict(record))
            values["attempts"] = [_compact(a) for a in values.get("attempts", [])]
            steps.append(values)
        events = [_compact(asdict(e)) for e in self.events]
        return json.dumps(
            {"meta": self.values, "steps": steps, "events": events}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> FinishedJournal:
        doc = json.loads(text)
        return cls(
            doc["meta"], [_step(s) for s in doc["steps"]], [EventRecord(**e) for e in doc["events"]]
        )


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v is not False}


def _step(values: dict[str, Any]) -> StepRecord:
    attempts = [AttemptRecord(**a) for a in values.get("attempts", [])]
    return StepRecord(**{**values, "attempts": attempts})


def row_to_json(row: InstanceRow) -> str:
    values = {f.name: getattr(row, f.name) for f in fields(row)}
    values["status"] = InstanceStatus(row.status).value
    if row.paused_from is not None:
        values["paused_from"] = InstanceStatus(row.paused_from).value
    return json.dumps(values, separators=(",", ":"))


def row_from_json(text: str) -> InstanceRow:
    values = json.loads(text)
    values["status"] = InstanceStatus(values["status"])
    if values.get("paused_from") is not None:
        values["paused_from"] = InstanceStatus(values["paused_from"])
    known = {f.name for f in fields(InstanceRow)}
    return InstanceRow(**{k: v for k, v in values.items() if k in known})


@dataclass
class FoldReport:
    """What one fold did: instances copied, journal files removed, and skipped ones."""

    folded: list[Key] = field(default_factory=list)
    removed: int = 0
    busy: list[Key] = field(default_factory=list)  # journal held by a process: later
    unreadable: list[Key] = field(default_factory=list)  # kept as is (registry row folded)


class HistorySession:
    """One open of the history file (see :meth:`HistoryStore.session`)."""

    def __init__(self, root: Path, db: GuardedConnection | None) -> None:
        self.root, self._db = root, db

    def view(self, workflow: str, instance_id: str) -> FinishedJournal | None:
        """The folded journal of an instance, or None if the store does not hold it."""
        if self._db is None:
            return None
        text = self._db.scalar(
            "SELECT journal FROM folded WHERE workflow = ? AND instance_id = ? LIMIT 1",
            [workflow, instance_id],
        )
        return None if text is None else FinishedJournal.from_json(text)

    def keys(self) -> set[Key]:
        if self._db is None:
            return set()
        rows = self._db.execute("SELECT workflow, instance_id FROM folded").fetchall()
        return {(r[0], r[1]) for r in rows}

    def rows(self) -> list[InstanceRow]:
        """The registry rows of the folded instances, as they were folded."""
        if self._db is None:
            return []
        rows = self._db.execute("SELECT registry FROM folded ORDER BY folded_at").fetchall()
        return [row_from_json(r[0]) for r in rows]

    def views(self, keys: Iterable[Key]) -> dict[Key, FinishedJournal]:
        """The folded journals of these instances (one query), by key."""
        wanted = set(keys)
        if self._db is None or not wanted:
            return {}
        rows = self._db.execute(
            "SELECT workflow, instance_id, journal FROM folded "
            "WHERE instance_id IN (SELECT unnest(?))",
            [sorted({k[1] for k in wanted})],
        ).fetchall()
        return {(w, i): FinishedJournal.from_json(j) for w, i, j in rows if (w, i) in wanted}

    def write(self, copies: list[tuple[InstanceRow, str]], now: float) -> None:
        """Store the copies (one transaction), replacing any the store already has."""
        db = self._writable()
        if not copies:
            return
        # Two statements for the batch: the table has no index, so a DELETE per
        # instance scanned it once per instance (the supervisor's largest CPU
        # share per finished instance in issue 17's profile).
        keys = [f"{row.workflow}\x00{row.id}" for row, _ in copies]
        values = [
            field
            for row, copy in copies
            for field in (row.workflow, row.id, row.generation, now, row_to_json(row), copy)
        ]
        with transaction(db):
            db.execute(
                "DELETE FROM folded WHERE workflow || chr(0) || instance_id IN (SELECT unnest(?))",
                [keys],
            )
            rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(copies))
            db.execute(f"INSERT INTO folded VALUES {rows}", values)

    def checkpoint(self) -> None:
        """Write the WAL into the file (closing the session does it too)."""
        self._writable().execute("CHECKPOINT")

    def remove(self, keys: Iterable[Key]) -> int:
        """Forget these instances (deleted, purged, or running again)."""
        wanted = list(keys)
        if self._db is None or not wanted:
            return 0
        with transaction(self._db):
            for workflow, instance_id in wanted:
                self._db.execute(
                    "DELETE FROM folded WHERE workflow = ? AND instance_id = ?",
                    [workflow, instance_id],
                )
        return len(wanted)

    def remove_workflow(self, workflow: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM folded WHERE workflow = ?", [workflow])

    def unfold(self, workflow: str, instance_id: str) -> bool:
        """Write the instance's journal file back from its folded copy (before a
        restart), then forget the copy; False if the store does not hold it."""
        view = self.view(workflow, instance_id)
        if view is None:
            return False
        path = journal_path(self.root, workflow, instance_id)
        if not path.exists():  # a crash after the last unfold kept the file: it wins
            restore_journal(view, path)
        self.remove([(workflow, instance_id)])
        return True

    def _writable(self) -> GuardedConnection:
        if self._db is None:
            raise PyflowError(f"the history store under {self.root} was opened read-only")
        return self._db


class HistoryStore:
    """``<root>/history.duckdb``; get the process's one with :func:`history_store`."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.path = self.root / HISTORY_FILE
        self.read_only = read_only
        self._lock = threading.Lock()
        # One in-memory DuckDB instance for this store's sessions and the journals a
        # fold reads, each file attached in turn: a new instance per session cost
        # ~18 ms of CPU to open and ~11 ms to close, per fold (issue 17's profile).
        self._database: duckdb.DuckDBPyConnection | None = None
        self._database_lock = threading.Lock()

    def _instance(self) -> duckdb.DuckDBPyConnection:
        with self._database_lock:
            if self._database is None:
                self._database = duckdb.connect(":memory:")
            return self._database

    @contextlib.contextmanager
    def session(self, wait: float = LOCK_WAIT) -> Iterator[HistorySession]:
        """Attach the file (created on the first write), serialised in this process;
        detached after, so that another process may open it between sessions."""
        with self._lock:
            if self.read_only and (not self.path.exists() or _unfinished(self.path)):
                yield HistorySession(self.root, None)
                return
            connection = _connect(self._instance(), self.path, self.read_only, wait)
            db = GuardedConnection(connection, lambda exc: _history_error(exc, self.path))
            try:
                if self.read_only:
                    check_version(db, HISTORY, self.path)  # a newer release's: refused
                else:
                    open_format(db, HISTORY, self.path, SCHEMA)
                yield HistorySession(self.root, db)
            finally:
                _detach(connection)

    def fold(
        self,
        rows: Iterable[InstanceRow],
        now: float | None = None,
        sent: dict[Key, str] | None = None,
    ) -> FoldReport:
        """Copy the finished ``rows``' journals into the store (one transaction), then
        remove their files. The journals are read before the store is opened, so that a
        fold holds the store only for its write; ``sent``: copies their hosts sent (not read)."""
        report, copies = FoldReport(), []
        database = self._instance()  # attaches each journal in turn (~1.5 ms, not ~15 ms)
        for row in rows:
            copy = (sent or {}).get(row.key) or _copy_of(self.root, row, report, database)
            if copy is not None:
                copies.append((row, copy))
        if not copies:
            return report
        with self.session() as session:
            session.write(copies, time.time() if now is None else now)
        for row, _ in copies:
            path = journal_path(self.root, row.workflow, row.id)
            report.removed += path.exists()
            remove_journal(path)
            report.folded.append(row.key)
        return report


def _copy_of(
    root: Path, row: InstanceRow, report: FoldReport, database: duckdb.DuckDBPyConnection
) -> str | None:
    """The JSON copy of a finished instance's journal; None: not now (see ``report``)."""
    path = journal_path(root, row.workflow, row.id)
    if not path.exists():
        return FinishedJournal().to_json()  # never started (terminated while queued)
    try:
        with DuckJournal(path, read_only=True, database=database) as journal:
            return FinishedJournal.of(journal).to_json()
    except JournalLocked:
        report.busy.append(row.key)  # its process is letting go of it: next pass
    except PyflowError:
        report.unreadable.append(row.key)  # corrupt: kept as it is, for a post-mortem
    return None


def _connect(
    database: duckdb.DuckDBPyConnection, path: Path, read_only: bool, wait: float
) -> duckdb.DuckDBPyConnection:
    """The file attached to ``database`` as ``history``; created with 16 KiB blocks (an
    empty store is ~28 KB instead of ~270 KB, and grows by 16 KiB, not 256 KiB)."""
    deadline = time.monotonic() + wait
    quoted = os.fspath(path).replace("'", "''")
    while True:
        connection = database.cursor()
        new = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not read_only and (set_aside_unfinished(path) is not None or not path.exists())
            options = " (READ_ONLY)" if read_only else " (BLOCK_SIZE 16384)" if new else ""
            connection.execute("DETACH DATABASE IF EXISTS history")  # a session cut short
            connection.execute(f"ATTACH '{quoted}' AS history{options}")
            connection.execute("USE history")
            return connection
        except (OSError, duckdb.Error) as exc:
            connection.close()
            if new:  # cut off while created (storage full): created afresh next time
                with contextlib.suppress(OSError):
                    set_aside_unfinished(path)
            if not is_lock_conflict(exc) or time.monotonic() > deadline:
                raise _history_error(exc, path) from exc
            time.sleep(0.05)  # another process reads it (pyflow replay): a moment


def _detach(connection: duckdb.DuckDBPyConnection) -> None:
    """Let go of the file (DETACH checkpoints it, as closing an instance did)."""
    with contextlib.suppress(duckdb.Error):
        connection.execute("USE memory")
        connection.execute("DETACH DATABASE IF EXISTS history")
    connection.close()


def _unfinished(path: Path) -> bool:
    """True if the file's creation was cut off (it holds nothing: read as absent)."""
    return cut_off_at_creation(path)


def _history_error(exc: BaseException, path: Path) -> Exception:
    refused = storage_unavailable(exc, path)
    if refused is not None:
        return refused
    if is_lock_conflict(exc):
        return JournalLocked(f"the history store {path} is held by another process: {exc}")
    return JournalCorrupt(f"the history store {path} cannot be opened or read: {exc}")


_STORES: dict[tuple[Path, bool], HistoryStore] = {}
_STORES_LOCK = threading.Lock()


def history_store(root: Path, *, read_only: bool = False) -> HistoryStore:
    """This process's store for ``root`` (one per file: DuckDB's rule)."""
    key = (Path(root).resolve(), read_only)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = HistoryStore(Path(root), read_only=read_only)
        return store


def restore_journal(view: FinishedJournal, path: Path) -> None:
    """Write a journal file holding ``view`` (written aside, then renamed into place)."""
    aside = path.with_name(f"{path.name}.restoring")
    remove_journal(aside)
    DuckJournal(aside).close()  # a new journal: its format stamp and tables
    connection = duckdb.connect(":memory:")
    db = GuardedConnection(connection, lambda exc: _history_error(exc, path))
    try:
        db.execute(f"ATTACH '{os.fspath(aside).replace(chr(39), chr(39) * 2)}' AS j")
        db.execute("USE j")
        with transaction(db):
            meta = [(k, v) for k, v in view.values.items() if k != "format_version"]
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            for record in view.records:
                _restore_step(db, record)
            for event in view.events:
                db.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                    [event.event_id, event.seq, event.type, event.payload, event.received_at,
                     event.consumed_by],
                )  # fmt: skip
        db.execute("USE memory")
        db.execute("DETACH j")
    finally:
        connection.close()
    os.replace(aside, path)


def _restore_step(db: GuardedConnection, record: StepRecord) -> None:
    values = asdict(record)
    attempts = values.pop("attempts")
    columns = ", ".join(values)
    db.execute(
        f"INSERT INTO steps ({columns}) VALUES ({', '.join('?' for _ in values)})",
        list(values.values()),
    )
    for a in attempts:
        db.execute(
            "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [record.key, a["n"], a["started_at"], a["ended_at"], a["error_name"],
             a["error_message"], a["interrupted"]],
        )  # fmt: skip


@contextlib.contextmanager
def open_instance(
    root: Path, workflow: str, instance_id: str, history: HistorySession | None = None
) -> Iterator[DuckJournal | FinishedJournal | None]:
    """The one way to read an instance's history: its journal file while it has one,
    else its folded copy in the history store (``history``: a session already open),
    else None. A journal held by a live process raises :class:`JournalLocked`."""
    path = journal_path(root, workflow, instance_id)
    if path.exists():
        try:
            journal = DuckJournal(path, read_only=True)
        except JournalCorrupt:
            if path.exists():
                raise
            journal = None  # folded while we opened it: read the store
        if journal is not None:
            with journal:
                yield journal
            return
    if history is not None:
        yield history.view(workflow, instance_id)
        return
    with reader_store(root).session() as session:
        yield session.view(workflow, instance_id)


def reader_store(root: Path) -> HistoryStore:
    """The store a reader uses: this process's writable one if it has one (the
    supervisor: DuckDB refuses two configurations of one file), else a read-only one."""
    writable = _STORES.get((Path(root).resolve(), False))
    return writable if writable is not None else history_store(root, read_only=True)
