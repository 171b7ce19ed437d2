"""The per-instance journal: one small DuckDB file per workflow instance.

Only the instance's own actor opens it for writing. Every write is committed
before the method returns, so a result is durable before workflow code sees
it. Files are created with a 16 KiB block size (~60 KB on disk instead of
~270 KB with DuckDB's default).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from ..engine.records import AttemptRecord, EventRecord, RunResult, StepRecord, StepState
from ..errors import JournalCorrupt, JournalLocked, PyflowError
from ..statuses import FINAL_STATUSES, InstanceStatus
from .duck import (
    GuardedConnection,
    is_lock_conflict,
    journal_database,
    set_aside_unfinished,
    storage_unavailable,
    transaction,
)
from .formats import CURRENT, JOURNAL, check_version, open_format
from .formats import KEY as FORMAT_KEY
from .journal_meta import MetaRows, PendingMeta
from .journal_rows import (
    INSERT_STEP,
    StoredMetaKeys,
    read_all_events,
    read_pending_events,
    read_steps,
    step_values,
)
from .journal_written import WrittenRows
from .starts import StartLog, starts_path
from .step_view import StepSource, next_attempt_at, step_infos

__all__ = [
    "DuckJournal",
    "StepSource",
    "journal_path",
    "next_attempt_at",
    "remove_journal",
    "step_infos",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS steps (
    key VARCHAR PRIMARY KEY, name VARCHAR, kind VARCHAR, seq INTEGER,
    started_at DOUBLE, state VARCHAR, ended_at DOUBLE, output VARCHAR,
    error_name VARCHAR, error_message VARCHAR, config VARCHAR,
    wake_at DOUBLE, event_type VARCHAR
);
CREATE TABLE IF NOT EXISTS attempts (
    step_key VARCHAR, n INTEGER, started_at DOUBLE, ended_at DOUBLE,
    error_name VARCHAR, error_message VARCHAR, interrupted BOOLEAN,
    PRIMARY KEY (step_key, n)
);
CREATE TABLE IF NOT EXISTS events (
    event_id VARCHAR PRIMARY KEY, seq INTEGER, type VARCHAR, payload VARCHAR,
    received_at DOUBLE, consumed_by VARCHAR
);
"""


def journal_error(exc: BaseException, path: Path) -> Exception:
    """What a DuckDB error on a journal means: the storage refused a write
    (:class:`StorageUnavailable`: retry later), or the file is unreadable."""
    refused = storage_unavailable(exc, path)
    if refused is not None:
        return refused
    if is_lock_conflict(exc):
        return JournalLocked(f"journal {path} is held by another process: {exc}")
    return JournalCorrupt(f"journal {path} cannot be opened or read: {exc}")


def journal_path(root: Path, workflow: str, instance_id: str) -> Path:
    """Where an instance's journal lives: ``<root>/journals/<workflow>/<id>.duckdb``."""
    return root / "journals" / workflow / f"{instance_id}.duckdb"


class DuckJournal:
    """A DuckDB journal file, implementing the engine's ``Journal`` interface."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        database: duckdb.DuckDBPyConnection | None = None,
        fresh: bool = False,
    ) -> None:
        """``database``: a DuckDB instance to attach the file to (a shared host's one),
        instead of a new in-memory instance per journal (~15 ms here, vs ~1.5 ms).
        ``fresh``: an empty journal this process just made (a host's stock): known to
        be stamped and empty, so it is not read until written (6 statements less)."""
        self.path = Path(path)
        self.read_only = read_only
        self._alias = "j" if database is None else f"j_{uuid.uuid4().hex}"
        self._shared = database is not None
        connection = journal_database() if database is None else database.cursor()
        # Every error says what it means: StorageUnavailable or JournalCorrupt.
        self._db = GuardedConnection(connection, lambda exc: journal_error(exc, self.path))
        if not read_only:  # a kill -9 while it was created left a file DuckDB refuses
            with contextlib.suppress(OSError):  # (kept aside): the instance starts afresh
                set_aside_unfinished(self.path)
        new = not read_only and not self.path.exists()
        self._meta: dict[str, Any] | None = None  # the meta table, read once (one writer)
        self._held = PendingMeta()  # a run's start stamp, for a later commit (journal_meta)
        self._stored = StoredMetaKeys()  # which meta keys the file holds (once read)
        self._written = WrittenRows(fresh)  # its rows while only this process wrote them
        try:
            if read_only:
                self._db.execute(f"ATTACH '{_quote(self.path)}' AS {self._alias} (READ_ONLY)")
            else:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise journal_error(exc, self.path) from exc
                options = "" if self.path.exists() else " (BLOCK_SIZE 16384)"
                self._db.execute(f"ATTACH '{_quote(self.path)}' AS {self._alias}{options}")
            self._db.execute(f"USE {self._alias}")
            if read_only:
                check_version(self._db, JOURNAL, self.path)
            elif fresh:
                self._meta = {FORMAT_KEY: str(CURRENT[JOURNAL])}
                self._stored.read(self._meta)
            else:
                open_format(self._db, JOURNAL, self.path, SCHEMA)
            self._starts = StartLog(starts_path(self.path))
            self._starts.load()
            if not read_only:
                self._commit_starts()  # left by a process that died mid-attempt
        except BaseException:
            self._detach()
            connection.close()  # let go of the file, so that it can be opened again
            if new:  # half-created (storage full): start clean next time; a read-only
                with contextlib.suppress(OSError):  # storage refuses even that (EROFS)
                    remove_journal(self.path)
            raise

    # -- meta ---------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        if self._meta is None or self.read_only:
            self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self._stored.read(self._meta)
            self._meta.update(self._held.rows)
        return dict(self._meta)

    def hold_start_meta(self) -> None:
        """Write the next run's start stamp with the journal's next commit, not on
        its own (a shared host's journals: see ``journal_meta.py``)."""
        self._held.arm()

    def set_meta(self, **values: Any) -> None:
        rows = [(k, None if v is None else str(v)) for k, v in values.items()]
        if self._held.hold(rows):
            if self._meta is not None:
                self._meta.update(rows)
            return
        self._write_meta(self._held.with_rows(rows))
        self._held.written()
        if self._meta is not None:
            self._meta.update(rows)

    def _write_meta(self, rows: MetaRows) -> None:
        # One statement, one commit: executemany committed each row (~2 ms each
        # here), the largest cost of starting an instance (issue 17's profile).
        if not rows:
            return
        placeholders = ", ".join(["(?, ?)"] * len(rows))
        params = [field for row in rows for field in row]
        insert = self._stored.statement([key for key, _ in rows])
        self._db.execute(f"{insert} INTO meta VALUES {placeholders}", params)

    @contextlib.contextmanager
    def _commit(self) -> Iterator[None]:
        """One transaction for the statements inside, with the held start stamp."""
        try:
            with transaction(self._db):
                self._write_meta(self._held.with_rows())
                yield
        except BaseException:
            self._written.forget()  # the rows it kept may not be committed
            raise
        self._held.written()

    def _autocommit(self) -> contextlib.AbstractContextManager[None]:
        """A one-statement write: its own commit, with the held start stamp once due."""
        return self._commit() if self._held.due() else contextlib.nullcontext()

    def result(self) -> RunResult | None:
        meta = self.meta()
        status = meta.get("status")
        if status not in FINAL_STATUSES:
            return None
        return RunResult(
            status=InstanceStatus(status),
            output=meta.get("output"),
            error_name=meta.get("error_name"),
            error_message=meta.get("error_message"),
            ended_at=float(meta.get("ended_at") or 0),
        )

    def set_result(self, result: RunResult) -> None:
        self.set_meta(  # one statement: committed whole or not at all
            status=result.status,
            output=result.output,
            error_name=result.error_name,
            error_message=result.error_message,
            ended_at=result.ended_at,
        )

    def reset(self, generation: int, keep_before: str | None = None) -> None:
        """Erase the history (restart): steps, attempts, events and result. With
        ``keep_before`` (a step key), the steps begun before that step stay, with
        their attempts and the events they consumed (a restart from that step)."""
        target = self.steps().get(keep_before) if keep_before else None
        self._guard(self._starts.clear)
        self._meta = None  # read again after the erase (committed or rolled back)
        self._stored.forget()
        self._written.forget()
        with self._commit():
            self._db.execute("DELETE FROM steps WHERE seq >= ?", [target.seq if target else 0])
            for table, column in (("attempts", "step_key"), ("events", "consumed_by")):
                self._db.execute(
                    f"DELETE FROM {table} WHERE {column} IS NULL OR {column} "
                    "NOT IN (SELECT key FROM steps)"
                )
            self._db.execute(
                "DELETE FROM meta WHERE key IN "
                "('status', 'output', 'error_name', 'error_message', 'ended_at', 'started_at')"
            )
            self.set_meta(generation=generation)

    # -- Journal interface ----------------------------------------------------

    def steps(self) -> dict[str, StepRecord]:
        return self._starts.merged(self._committed_steps())

    def _committed_steps(self) -> dict[str, StepRecord]:
        return self._written.steps() if self._written.known else read_steps(self._db)

    def pending_events(self) -> list[EventRecord]:
        return [] if self._written.known else read_pending_events(self._db)

    def event_count(self) -> int:
        return int(self._db.scalar("SELECT count(*) FROM events"))

    def all_events(self) -> list[EventRecord]:
        """Every event, consumed or not, in arrival order (what the history store keeps)."""
        return [] if self._written.known else read_all_events(self._db)

    def begin_step(self, record: StepRecord) -> None:
        if record.kind in ("step", "rollback"):
            # Committed with its attempt's end (one commit per step); until
            # then in the start log, which a killed process leaves behind.
            self._guard(self._starts.begin_step, record)
            return
        with self._autocommit():
            self._insert_step(record)

    def _insert_step(self, record: StepRecord) -> None:
        # Always a new row: plain INSERT (a replace costs ~4x more here).
        self._db.execute(INSERT_STEP, step_values(record))
        self._written.step(record)

    def begin_attempt(self, key: str, attempt: AttemptRecord) -> None:
        self._guard(self._starts.begin_attempt, key, attempt)

    def _insert_attempt(self, key: str, attempt: AttemptRecord) -> None:
        self._written.forget()
        self._db.execute(
            "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                attempt.n,
                attempt.started_at,
                attempt.ended_at,
                attempt.error_name,
                attempt.error_message,
                attempt.interrupted,
            ],
        )

    def _commit_starts(self) -> None:
        """Commit the starts held in the start log (before a close, or left by a
        killed process), then empty it."""
        if self._starts.steps or self._starts.attempts:
            committed = self._committed_steps()
            with self._commit():
                for key, record in list(self._starts.steps.items()):
                    if key not in committed:
                        self._insert_step(record)
                for (key, n), attempt in list(self._starts.attempts.items()):
                    known = committed.get(key)
                    if known is None or all(a.n != n for a in known.attempts):
                        self._insert_attempt(key, attempt)
        self._guard(self._starts.clear)

    def _guard(self, write: Any, *args: Any) -> None:
        try:
            write(*args)
        except OSError as exc:
            raise journal_error(exc, self.path) from exc

    def mark_interrupted(self, key: str, n: int, at: float) -> None:
        self._written.forget()
        with self._autocommit():
            self._db.execute(
                "UPDATE attempts SET ended_at = ?, error_name = 'Interrupted', "
                "error_message = 'the instance''s process died during this attempt', "
                "interrupted = true WHERE step_key = ? AND n = ?",
                [at, key, n],
            )

    def end_attempt(
        self,
        key: str,
        n: int,
        ended_at: float,
        error: tuple[str, str] | None,
        *,
        finish: StepState | None = None,
        output: str | None = None,
    ) -> None:
        ename, emsg = error if error else (None, None)
        step, attempt = self._starts.take_step(key), self._starts.take_attempt(key, n)
        # Ended by its first attempt: the step's one row, which that attempt reads back
        # from (journal_rows.read_steps): one statement, not a transaction of four.
        alone = step is not None and bool(finish) and attempt is not None and n == 1
        try:
            with self._autocommit() if alone else self._commit():
                if step is not None and finish:  # the row in its final state: no UPDATE
                    final = replace(step, state=finish, ended_at=ended_at, output=output)
                    self._insert_step(replace(final, error_name=ename, error_message=emsg))
                    finish = None
                elif step is not None:
                    self._insert_step(step)
                if alone:
                    pass
                elif attempt is not None:
                    ended = AttemptRecord(attempt.n, attempt.started_at, ended_at, ename, emsg)
                    self._insert_attempt(key, ended)
                else:
                    self._written.forget()
                    self._db.execute(
                        "UPDATE attempts SET ended_at = ?, error_name = ?, error_message = ? "
                        "WHERE step_key = ? AND n = ?",
                        [ended_at, ename, emsg, key, n],
                    )
                if finish:
                    self._finish(key, finish, ended_at, output, error)
        except BaseException:
            # Not committed: keep the starts, so that the history still has them.
            if step is not None:
                self._starts.steps[key] = step
            if attempt is not None:
                self._starts.attempts[(key, n)] = attempt
            raise

    def finish_step(
        self,
        key: str,
        state: StepState,
        ended_at: float,
        *,
        output: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        with self._autocommit():
            self._finish(key, state, ended_at, output, error)

    def _finish(
        self,
        key: str,
        state: StepState,
        ended_at: float,
        output: str | None,
        error: tuple[str, str] | None,
    ) -> None:
        ename, emsg = error if error else (None, None)
        self._written.forget()
        self._db.execute(
            "UPDATE steps SET state = ?, ended_at = ?, output = ?, error_name = ?, "
            "error_message = ? WHERE key = ?",
            [state, ended_at, output, ename, emsg, key],
        )

    def consume_event(self, key: str, event_id: str, ended_at: float, output: str) -> None:
        self._written.forget()
        with self._commit():
            self._db.execute(
                "UPDATE events SET consumed_by = ? WHERE event_id = ?", [key, event_id]
            )
            self._finish(key, "complete", ended_at, output, None)

    def add_events(self, events: list[EventRecord]) -> list[EventRecord]:
        if not events:
            return []
        self._written.forget()
        with self._commit():
            known = {
                r[0]
                for r in self._db.execute(
                    "SELECT event_id FROM events WHERE event_id IN (SELECT unnest(?))",
                    [[e.event_id for e in events]],
                ).fetchall()
            }
            seq = int(self._db.scalar("SELECT coalesce(max(seq), 0) FROM events"))
            new = []
            for event in events:
                if event.event_id in known:
                    continue
                known.add(event.event_id)
                seq += 1
                event.seq = seq
                self._db.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, NULL)",
                    [event.event_id, seq, event.type, event.payload, event.received_at],
                )
                new.append(event)
        return new

    # -- housekeeping -------------------------------------------------------

    def close(self) -> None:
        try:
            if not self.read_only:
                self._commit_starts()
                self.set_meta()  # a start stamp still held (no commit since): written now
        except Exception:  # noqa: BLE001 - kept in the start log: committed at the next open
            pass
        self._starts.close()
        self._detach()
        try:
            self._db.close()
        except duckdb.Error:  # pragma: no cover - closing twice
            pass

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file (a shared host's, once the log grew)."""
        self._db.execute(f"CHECKPOINT {self._alias}")

    def _detach(self) -> None:
        """On a shared DuckDB instance, let go of the file (closing a cursor does not)."""
        if self._shared:
            with contextlib.suppress(duckdb.Error, PyflowError):
                self._db.execute("USE memory")
                self._db.execute(f"DETACH DATABASE IF EXISTS {self._alias}")
            self._shared = False

    def __enter__(self) -> DuckJournal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _quote(path: Path) -> str:
    return os.fspath(path).replace("'", "''")


def remove_journal(path: Path) -> None:
    """Delete a journal file and its write-ahead log (retention purge)."""
    for p in (path, path.with_name(path.name + ".wal"), starts_path(path)):
        p.unlink(missing_ok=True)
