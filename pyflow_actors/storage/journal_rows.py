"""The SQL of a journal's rows: reading steps, attempts and events, writing meta.

:class:`~.journal.DuckJournal` owns the file and its transactions; this module
holds the statements that read its rows back into engine records, and the
choice of the cheapest statement for a meta write (issue 17's per-step work:
a plain INSERT costs ~0.9 ms of CPU here, an INSERT OR REPLACE ~2.4 ms).

A step ended by its first attempt is one row (journal format 2): its attempt
is read back from that row (:func:`first_attempt`), so committing such a step
is one INSERT (~1.3 ms here) rather than BEGIN, two INSERTs and COMMIT (~2 ms).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine.records import AttemptRecord, EventRecord, StepRecord

STEP_COLUMNS = (
    "key, name, kind, seq, started_at, state, ended_at, output, error_name, error_message, "
    "config, wake_at, event_type"
)
ATTEMPTED = ("step", "rollback")  # the kinds of step that run attempts
INSERT_STEP = f"INSERT INTO steps ({STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def read_steps(db: Any) -> dict[str, StepRecord]:
    """The committed steps, in the order they began, each with its attempts."""
    steps = {
        row[0]: StepRecord(
            key=row[0],
            name=row[1],
            kind=row[2],
            seq=row[3],
            started_at=row[4],
            state=row[5],
            ended_at=row[6],
            output=row[7],
            error_name=row[8],
            error_message=row[9],
            config=row[10],
            wake_at=row[11],
            event_type=row[12],
        )
        for row in db.execute(f"SELECT {STEP_COLUMNS} FROM steps ORDER BY seq").fetchall()
    }
    for key, n, started, ended, ename, emsg, interrupted in db.execute(
        "SELECT step_key, n, started_at, ended_at, error_name, error_message, interrupted "
        "FROM attempts ORDER BY step_key, n"
    ).fetchall():
        if key in steps:
            steps[key].attempts.append(
                AttemptRecord(n, started, ended, ename, emsg, bool(interrupted))
            )
    for record in steps.values():
        if not record.attempts and record.kind in ATTEMPTED and record.state != "running":
            record.attempts.append(first_attempt(record))
    return steps


def first_attempt(record: StepRecord) -> AttemptRecord:
    """The one attempt of a step its first attempt ended, read from the step's row.

    Journal format 2: such a step is committed as its row alone (one statement
    per step); it has no row in ``attempts``. In format 1 every ended step of
    these kinds has its attempt rows, so the rule reads those journals unchanged.
    """
    return AttemptRecord(
        1, record.started_at, record.ended_at, record.error_name, record.error_message
    )


def step_values(record: StepRecord) -> list[Any]:
    """The parameters of :data:`INSERT_STEP` for ``record``."""
    return [
        record.key, record.name, record.kind, record.seq, record.started_at, record.state,
        record.ended_at, record.output, record.error_name, record.error_message, record.config,
        record.wake_at, record.event_type,
    ]  # fmt: skip


def read_pending_events(db: Any) -> list[EventRecord]:
    return [
        EventRecord(event_id=r[0], type=r[1], payload=r[2], received_at=r[3], seq=r[4])
        for r in db.execute(
            "SELECT event_id, type, payload, received_at, seq FROM events "
            "WHERE consumed_by IS NULL ORDER BY seq"
        ).fetchall()
    ]


def read_all_events(db: Any) -> list[EventRecord]:
    """Every event, consumed or not, in arrival order (what the history store keeps)."""
    return [
        EventRecord(r[0], r[2], r[3], r[4], seq=r[1], consumed_by=r[5])
        for r in db.execute(
            "SELECT event_id, seq, type, payload, received_at, consumed_by FROM events ORDER BY seq"
        ).fetchall()
    ]


class StoredMetaKeys:
    """Which meta keys the file holds, known since the meta table was read: a write
    of keys it does not hold is a plain INSERT (~2.5x cheaper than a replace here).
    Unknown (never read, or after an erase): every write is a replace."""

    def __init__(self) -> None:
        self.keys: set[str] | None = None

    def read(self, keys: Iterable[str]) -> None:
        self.keys = set(keys)

    def forget(self) -> None:
        self.keys = None

    def statement(self, keys: list[str]) -> str:
        """The INSERT for ``keys`` (distinct), and they count as held from now on
        (a rolled-back write leaves them counted: a later write replaces, still right)."""
        new = self.keys is not None and self.keys.isdisjoint(keys)
        if self.keys is not None:
            self.keys.update(keys)
        return "INSERT" if new else "INSERT OR REPLACE"
