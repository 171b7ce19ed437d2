"""Small DuckDB helpers shared by the journal and the registry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb


@contextlib.contextmanager
def transaction(db: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit the statements inside as one, or none of them."""
    db.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
