"""Versioned storage formats: the version stamped in every journal and in the registry.

Each DuckDB file records the version of the format it was written in under
the key ``format_version`` of its key-value table (the journal's ``meta``, the
registry's ``settings``: no extra table, so a journal stays as small as it
was). Opening a file for writing checks that version, runs the migrations from
it to the current version one step at a time (``MIGRATIONS[kind][n]`` turns
version ``n`` into ``n + 1``), all in one transaction, then stamps it. Files
written before formats were versioned carry no version: they are version 1.
A file from a newer release is refused (:class:`StorageFormatTooNew`), never
misread. A read-only open checks the version and migrates nothing.

To change a format: bump its version in ``CURRENT``, add the migration from
the previous version, and add golden journals written by the new release to
``tests/golden/`` (the old ones stay: every release must open them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from os import fspath
from pathlib import Path
from typing import Any

from ..errors import StorageFormatTooNew
from .duck import transaction

JOURNAL = "journal"
REGISTRY = "registry"
HISTORY = "history"  # the history store of finished instances (storage/history.py)

# The format version this release writes, per kind of file.
CURRENT: dict[str, int] = {JOURNAL: 2, REGISTRY: 2, HISTORY: 1}

# MIGRATIONS[kind][n](db) turns a file of version n into version n + 1.
Migration = Callable[[Any], None]


def _journal_1_to_2(db: Any) -> None:
    """Format 2 writes a step its first attempt ended as its row alone (the attempt
    is read from it: ``journal_rows.first_attempt``). A format 1 journal's ended
    steps all have their attempt rows, which read the same: nothing to change;
    the stamp keeps a release that knows only format 1 from misreading the file."""


def _registry_1_to_2(db: Any) -> None:
    """Format 2 keeps, on each instance row, the request id of the last control applied
    to it (``control_request_id``): a control sent again across a supervisor restart
    is recognised. Rows of format 1 have none (NULL): their next control is applied."""
    if "instances" in tables(db):
        db.execute("ALTER TABLE instances ADD COLUMN IF NOT EXISTS control_request_id VARCHAR")


MIGRATIONS: dict[str, dict[int, Migration]] = {
    JOURNAL: {1: _journal_1_to_2},
    REGISTRY: {1: _registry_1_to_2},
    HISTORY: {},
}

# Files without a format table were written before versions existed.
UNVERSIONED = 1

# Where each kind keeps its version: its key-value table (values as text / as bytes).
_TABLES = {JOURNAL: "meta", REGISTRY: "settings", HISTORY: "settings"}
KEY = "format_version"


def tables(db: Any) -> set[str]:
    """The tables of the open file."""
    rows = db.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    return {row[0] for row in rows}


def file_version(db: Any, kind: str, found: set[str] | None = None) -> tuple[int | None, bool]:
    """The format version of the open file (None: a new, empty file), and whether it
    is stamped (False for files written before versions existed). ``found``: its
    tables, if already read."""
    table = _TABLES[kind]
    if table not in (tables(db) if found is None else found):
        return None, False
    row = db.execute(f"SELECT value FROM {table} WHERE key = ?", [KEY]).fetchone()
    if row is None:
        return UNVERSIONED, False
    value = row[0]
    return int(bytes(value).decode() if isinstance(value, (bytes, bytearray)) else value), True


def check_version(
    db: Any, kind: str, path: Path, found: set[str] | None = None
) -> tuple[int | None, bool]:
    """Like :func:`file_version`; :class:`StorageFormatTooNew` if this release cannot read it."""
    version, stamped = file_version(db, kind, found)
    if version is not None and version > CURRENT[kind]:
        raise StorageFormatTooNew(
            f"{kind} {fspath(path)} is in format version {version}, written by a newer release "
            f"of pyflow-actors; this release reads {kind} formats up to version {CURRENT[kind]}: "
            "upgrade pyflow-actors to open it"
        )
    return version, stamped


def open_format(db: Any, kind: str, path: Path, schema: str) -> int | None:
    """Check, migrate and stamp the open file; create its tables. Returns the version found."""
    found = tables(db)
    version, stamped = check_version(db, kind, path, found)
    current = CURRENT[kind]
    if stamped and version == current:
        if not _has_schema(found, schema):  # ~1 ms saved per journal reopened (issue 17)
            db.execute(schema)  # tables added without a format change (IF NOT EXISTS)
        return version
    stamp: Any = str(current).encode() if kind == REGISTRY else str(current)
    with transaction(db):
        for step in range(version or current, current):
            MIGRATIONS[kind][step](db)
        db.execute(schema)
        db.execute(f"INSERT OR REPLACE INTO {_TABLES[kind]} VALUES (?, ?)", [KEY, stamp])
    return version


_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)", re.IGNORECASE)


def _has_schema(found: set[str], schema: str) -> bool:
    """True if ``schema`` only creates tables and ``found`` has them all."""
    names = _CREATE_TABLE.findall(schema)
    statements = [part for part in schema.split(";") if part.strip()]
    return len(names) == len(statements) and set(names) <= found
