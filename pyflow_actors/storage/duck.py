"""Small DuckDB helpers shared by the journal and the registry."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from ..errors import StorageUnavailable

log = logging.getLogger(__name__)

# What the operating system says when the storage itself refuses a write.
_STORAGE_FAILURES = (
    "no space left",
    "disk quota exceeded",
    "read-only file system",
    "permission denied",
    "input/output error",
)


def storage_unavailable(exc: BaseException, path: Path) -> StorageUnavailable | None:
    """A :class:`StorageUnavailable` if ``exc`` says the storage refused a write (full,
    read-only...), else ``None``. A file lock held by another process is not one."""
    text = str(exc)
    if isinstance(exc, OSError):
        reason = exc.strerror or text
    elif any(marker in text.lower() for marker in _STORAGE_FAILURES):
        reason = text.splitlines()[0] if text else type(exc).__name__
    else:
        return None
    return StorageUnavailable(
        f"the storage at {os.fspath(path)} cannot be written ({reason}); nothing of this "
        "call was recorded: free space or make it writable, then retry"
    )


# DuckDB writes a file's main header and its two database headers (4 KiB each)
# when it creates it, before any commit; a shorter file was cut off while being
# created (the storage filled up, or the process died) and never held a commit.
CREATED_HEADERS_BYTES = 3 * 4096
DUCKDB_MAGIC = b"DUCK"


def cut_off_at_creation(path: Path) -> bool:
    """True if ``path`` is shorter than DuckDB's headers and has no write-ahead log.

    Its creation was cut off (a full disk, or kill -9 while DuckDB wrote its
    headers): it never held a commit. A first commit needs the whole headers
    and goes to the WAL (a new file is exactly 12 KiB until its first
    checkpoint), so a short file beside a WAL was damaged after it held
    commits: that one is reported corrupt, never taken for an unfinished one."""
    try:
        if path.stat().st_size >= CREATED_HEADERS_BYTES:
            return False
        wal = path.with_name(path.name + ".wal")
        if wal.exists() and wal.stat().st_size > 0:
            return False
        with path.open("rb") as file:
            start = file.read(CREATED_HEADERS_BYTES)
    except OSError:
        return False
    # What DuckDB began to write (its magic after an 8-byte checksum), or nothing
    # yet; anything else is not a file DuckDB created: reported, never set aside.
    return start[8:12] == DUCKDB_MAGIC or not start.strip(b"\0")


def set_aside_unfinished(path: Path) -> Path | None:
    """Rename ``path`` (and its WAL) aside if its creation was cut off
    (:func:`cut_off_at_creation`).

    DuckDB refuses such a file ("not a valid DuckDB database file") forever after.
    It holds nothing; it is kept beside, renamed ``<name>.unfinished-<time>``,
    never deleted (a file truncated by something else is kept for a
    post-mortem), and logged. Returns the new name, or None."""
    if not cut_off_at_creation(path):
        return None
    aside = path.with_name(f"{path.name}.unfinished-{time.time_ns()}")
    os.replace(path, aside)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path.with_name(path.name + ".wal"), aside.with_name(aside.name + ".wal"))
    log.warning("%s was cut off while it was created (holds no commit): kept as %s", path, aside)
    return aside


def is_lock_conflict(exc: BaseException) -> bool:
    """True if DuckDB refused to open a file because another process holds its lock.

    DuckDB raises a plain ``IOException`` for it; its text is the only mark, so
    this is the one place that reads it. (Matching "lock" alone also matched
    "checksum ... in block": a corrupt file was taken for a locked one.)

    In one process, a file attached again just after its DETACH may still be
    held for a moment ("Unique file handle conflict"; seen with concurrent
    attaches on a shared host's DuckDB): that is a lock held too, let go soon."""
    text = str(exc).lower()
    if isinstance(exc, duckdb.IOException) and "could not set lock" in text:
        return True
    return isinstance(exc, duckdb.Error) and "unique file handle conflict" in text


# A journal's statements touch a few rows each; two of DuckDB's defaults are made
# for big queries and cost a step's INSERT more than its own work does here
# (docs/performance-notes.md, "Per-step cost"): the task scheduler (a pool of one
# thread per core, ~0.1-0.2 CPU-ms per statement to hand it over) and the query
# optimizer (~0.1-0.2 CPU-ms of rewrite rules per statement, for plans with
# nothing to optimize). Both are settings of the DuckDB instance, so every
# cursor of a shared host's instance has them too.
JOURNAL_DATABASE_CONFIG: dict[str, str | int | bool] = {"threads": 1, "enable_optimizer": False}


def journal_database() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB instance to attach journal files to (one thread, no
    optimizer: see :data:`JOURNAL_DATABASE_CONFIG`)."""
    return duckdb.connect(":memory:", config=dict(JOURNAL_DATABASE_CONFIG))


class GuardedConnection:
    """A DuckDB connection whose errors are translated by ``translate`` (one place).

    ``translate(exc)`` returns the exception to raise instead, or ``None`` to
    let the DuckDB error through.
    """

    def __init__(
        self,
        db: duckdb.DuckDBPyConnection,
        translate: Callable[[BaseException], BaseException | None],
    ) -> None:
        self._db, self._translate = db, translate

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._db.execute(sql) if params is None else self._db.execute(sql, params)
        except duckdb.Error as exc:
            raise self._translate(exc) or exc from exc

    def executemany(self, sql: str, params: Any) -> duckdb.DuckDBPyConnection:
        try:
            return self._db.executemany(sql, params)
        except duckdb.Error as exc:
            raise self._translate(exc) or exc from exc

    def scalar(self, sql: str, params: Any = None) -> Any:
        """The first column of the first row (``None`` when there is no row)."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self._db.close()


@contextlib.contextmanager
def transaction(db: GuardedConnection) -> Iterator[None]:
    """Commit the statements inside as one, or none of them."""
    db.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a failed statement may have ended it
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
