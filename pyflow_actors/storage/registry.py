"""The registry: the supervisor's one DuckDB file.

It holds the instance index and status summary, the queue order, alarms,
events accepted for instances that are not live, the registered workflows,
and the last fire of each Worker cron. Only the supervisor opens it. The supervisor keeps the same rows in
memory and writes every change here before it answers, so that a restarted
supervisor continues where the last one stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb

from ..errors import PyflowError, StorageUnavailable
from ..models import InstanceStatus
from .duck import GuardedConnection, is_lock_conflict, storage_unavailable, transaction
from .formats import REGISTRY, open_format
from .outbox import Outbox, OutboxItem
from .registry_rows import SavedRows
from .versions import VersionTable

log = logging.getLogger("pyflow.registry")

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS workflows (
    name VARCHAR PRIMARY KEY, binding VARCHAR, class_name VARCHAR, spec BLOB,
    created_at DOUBLE, modified_at DOUBLE
);
CREATE TABLE IF NOT EXISTS instances (
    workflow VARCHAR, id VARCHAR, status VARCHAR, params VARCHAR,
    created_at DOUBLE, started_at DOUBLE, ended_at DOUBLE, wake_at DOUBLE,
    output VARCHAR, error_name VARCHAR, error_message VARCHAR,
    queue_seq BIGINT, priority INTEGER, paused_from VARCHAR, waiting_for VARCHAR,
    generation INTEGER, crashes INTEGER, request_id VARCHAR, terminated_by VARCHAR,
    version_id VARCHAR, restart_from VARCHAR, success_retention DOUBLE, error_retention DOUBLE,
    schedule VARCHAR, rollback_requested BOOLEAN, control_request_id VARCHAR,
    PRIMARY KEY (workflow, id)
);
ALTER TABLE instances ADD COLUMN IF NOT EXISTS version_id VARCHAR;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS restart_from VARCHAR;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS success_retention DOUBLE;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS error_retention DOUBLE;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS schedule VARCHAR;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS rollback_requested BOOLEAN;
CREATE TABLE IF NOT EXISTS inbox (
    event_id VARCHAR PRIMARY KEY, workflow VARCHAR, id VARCHAR, type VARCHAR,
    payload VARCHAR, received_at DOUBLE
);
CREATE TABLE IF NOT EXISTS cron_fires (
    worker VARCHAR, cron VARCHAR, last_fire DOUBLE, PRIMARY KEY (worker, cron)
);
"""


def schedule_key(workflow: str) -> str:
    """The owner of a workflow's fires in ``cron_fires`` (Workers crons use the
    Worker's name there; a ':' keeps them apart)."""
    return f"workflow:{workflow}"


@dataclass(slots=True)
class InstanceRow:
    workflow: str
    id: str
    status: InstanceStatus
    params: str | None
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    wake_at: float | None = None
    output: str | None = None
    error_name: str | None = None
    error_message: str | None = None
    queue_seq: int = 0
    priority: int = 1  # 0: resuming (runs first), 1: new
    paused_from: InstanceStatus | None = None  # what a paused instance resumes to
    waiting_for: list[str] = field(default_factory=list)
    generation: int = 1
    crashes: int = 0
    request_id: str | None = None
    terminated_by: str | None = None
    version_id: str | None = None  # the workflow version it was created on
    restart_from: str | None = None  # the step key its generation restarted from
    success_retention: float | None = None  # its own retention, seconds (None: the defaults)
    error_retention: float | None = None
    schedule: str | None = None  # a cron fire's {"cron", "scheduledTime"}, JSON text
    rollback_requested: bool = False  # terminated with rollback: handlers run, then terminated
    # The request id of the last control applied (pause, resume, terminate, restart),
    # written with its change: the same control sent again is answered, not redone.
    control_request_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.workflow, self.id)

    def to_db(self) -> list[Any]:
        values = [getattr(self, f.name) for f in fields(self)]
        values[2] = InstanceStatus(self.status).value
        values[13] = InstanceStatus(self.paused_from).value if self.paused_from else None
        values[14] = json.dumps(self.waiting_for)
        return values


_COLUMNS = [f.name for f in fields(InstanceRow)]
_PLACEHOLDERS = ", ".join("?" for _ in _COLUMNS)


@dataclass
class InboxEvent:
    event_id: str
    workflow: str
    id: str
    type: str
    payload: str
    received_at: float


class Registry:
    """The supervisor's durable index, in ``<storage>/registry.duckdb``."""

    def __init__(self, root: Path) -> None:
        self.path = root / "registry.duckdb"
        self.recreated = False  # True: it was missing or unreadable (rebuild from journals)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_unavailable(exc, root) or exc from exc
        self.recreated = not self.path.exists()
        try:
            connection = self._connect()
        except StorageUnavailable:
            raise
        except duckdb.Error as exc:
            if is_lock_conflict(exc):
                raise
            # Unreadable (truncated, corrupt): keep it aside for a post-mortem and
            # start a new one; the supervisor rebuilds it from the journals.
            aside = self.path.with_name(f"registry.corrupt-{time.time_ns()}.duckdb")
            log.error("registry %s cannot be read (%s): moved to %s", self.path, exc, aside)
            self.path.rename(aside)
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():
                wal.rename(aside.with_name(aside.name + ".wal"))
            self.recreated = True
            connection = self._connect()
        self._db = GuardedConnection(connection, lambda exc: storage_unavailable(exc, self.path))
        self.versions = VersionTable(self._db)
        self.outbox = Outbox(self._db)  # subscription messages, in this same file
        self._saved = SavedRows(_COLUMNS)  # what a row's next UPDATE need not write again

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            connection = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise storage_unavailable(exc, self.path) or exc from exc
        try:
            open_format(connection, REGISTRY, self.path, SCHEMA)
            connection.execute("SELECT count(*) FROM instances").fetchall()
        except duckdb.Error as exc:
            connection.close()
            raise storage_unavailable(exc, self.path) or exc from exc
        except PyflowError:  # a newer format: refused, and not taken for a corrupt file
            connection.close()
            raise
        return connection

    # -- settings and workflows ---------------------------------------------

    def get_setting(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        return None if row is None else bytes(row[0])

    def set_setting(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])

    def workflows(self) -> list[tuple[str, str, str, bytes, float, float]]:
        return [
            (r[0], r[1], r[2], bytes(r[3]), r[4], r[5])
            for r in self._db.execute(
                "SELECT name, binding, class_name, spec, created_at, modified_at FROM workflows"
            ).fetchall()
        ]

    def upsert_workflow(
        self,
        name: str,
        binding: str,
        class_name: str,
        spec: bytes,
        created_at: float,
        modified_at: float,
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?, ?, ?)",
            [name, binding, class_name, spec, created_at, modified_at],
        )

    def delete_workflow(self, name: str) -> None:
        """Forget a workflow: its row, instances, inbox and the fires of its schedules
        (registered again, its schedules start afresh, at their next fire)."""
        with transaction(self._db):
            self._saved.forget_workflow(name)
            self._db.execute("DELETE FROM workflows WHERE name = ?", [name])
            self._db.execute("DELETE FROM instances WHERE workflow = ?", [name])
            self._db.execute("DELETE FROM inbox WHERE workflow = ?", [name])
            self._db.execute("DELETE FROM cron_fires WHERE worker = ?", [schedule_key(name)])

    # -- instances ------------------------------------------------------------

    def instances(self) -> list[InstanceRow]:
        rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM instances").fetchall()
        out = []
        for values in rows:
            row = InstanceRow(*values)
            row.status = InstanceStatus(values[2])
            row.paused_from = InstanceStatus(values[13]) if values[13] else None
            row.waiting_for = json.loads(values[14] or "[]")
            row.rollback_requested = bool(row.rollback_requested)  # NULL in older rows
            out.append(row)
        self._saved.committed(row.to_db() for row in out)
        return out

    def insert(self, rows: list[InstanceRow], messages: list[OutboxItem] | None = None) -> None:
        """Insert new rows in one statement (one transaction), with the subscription
        ``messages`` (``instance.queued``) they publish."""
        if not rows:
            return
        placeholders = ", ".join(f"({_PLACEHOLDERS})" for _ in rows)
        statement = f"INSERT INTO instances ({', '.join(_COLUMNS)}) VALUES {placeholders}"
        values = [row.to_db() for row in rows]
        params = [v for row_values in values for v in row_values]
        if not messages:
            self._db.execute(statement, params)
        else:
            with transaction(self._db):
                self._db.execute(statement, params)
                self.outbox.add(messages, time.time())
        self._saved.committed(values)

    def save(self, row: InstanceRow, messages: list[OutboxItem] | None = None) -> None:
        """Write a row's current state (an UPDATE of the columns that changed: ~5x
        cheaper than a replace here), and the subscription ``messages`` its change
        publishes, in one transaction."""
        self.save_many([(row, messages or [])])

    def save_many(self, changes: list[tuple[InstanceRow, list[OutboxItem]]]) -> None:
        """Write many rows' states and their messages in one transaction (one commit
        for a burst of status changes: mass alarms queued, a batch admitted)."""
        values = [row.to_db() for row, _ in changes]
        messages = [item for _, found in changes for item in found]
        if not values and not messages:
            return  # a batch that changed nothing: no empty transaction
        try:
            if len(values) == 1 and not messages:
                self._save(values[0])  # one statement: its own commit
            else:
                with transaction(self._db):
                    for row_values in values:
                        self._save(row_values)
                    if messages:
                        self.outbox.add(messages, time.time())
        except BaseException:
            self._saved.forget((v[0], v[1]) for v in values)  # written or not: write whole
            raise
        self._saved.committed(values)

    def _save(self, values: list[Any]) -> None:
        update = self._saved.update(values)
        if update is None:
            return  # nothing changed since its last commit
        updated = self._db.execute(*update).fetchone()
        if not updated or not updated[0]:
            self._db.execute(
                f"INSERT INTO instances ({', '.join(_COLUMNS)}) VALUES ({_PLACEHOLDERS})", values
            )

    def delete_instances(self, keys: list[tuple[str, str]]) -> None:
        if not keys:
            return
        self._saved.forget(keys)
        with transaction(self._db):
            for workflow, instance_id in keys:
                self._db.execute(
                    "DELETE FROM instances WHERE workflow = ? AND id = ?", [workflow, instance_id]
                )
                self._db.execute(
                    "DELETE FROM inbox WHERE workflow = ? AND id = ?", [workflow, instance_id]
                )

    # -- inbox ----------------------------------------------------------------

    def add_event(self, event: InboxEvent) -> None:
        self._db.execute(
            "INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)",
            [
                event.event_id,
                event.workflow,
                event.id,
                event.type,
                event.payload,
                event.received_at,
            ],
        )

    def inbox(self) -> list[InboxEvent]:
        return [
            InboxEvent(*r)
            for r in self._db.execute(
                "SELECT event_id, workflow, id, type, payload, received_at FROM inbox "
                "ORDER BY received_at"
            ).fetchall()
        ]

    def remove_events(self, event_ids: list[str]) -> None:
        if event_ids:
            self._db.execute("DELETE FROM inbox WHERE event_id IN (SELECT unnest(?))", [event_ids])

    def drop_events_of(self, workflow: str, instance_id: str) -> None:
        self._db.execute("DELETE FROM inbox WHERE workflow = ? AND id = ?", [workflow, instance_id])

    # -- Worker crons ---------------------------------------------------------

    def last_cron_fire(self, worker: str, cron: str) -> float | None:
        """The latest fire of ``cron`` claimed for ``worker`` (epoch seconds), if any."""
        row = self._db.execute(
            "SELECT last_fire FROM cron_fires WHERE worker = ? AND cron = ?", [worker, cron]
        ).fetchone()
        return None if row is None else float(row[0])

    def claim_cron_fire(self, worker: str, cron: str, fire_at: float) -> bool:
        """Record ``fire_at`` as the last fire; False if it (or a later one) is recorded:
        each fire is claimed once, however many gateways ask, across restarts."""
        with transaction(self._db):
            last = self.last_cron_fire(worker, cron)
            if last is not None and fire_at <= last:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO cron_fires VALUES (?, ?, ?)", [worker, cron, fire_at]
            )
        return True

    # -- housekeeping -------------------------------------------------------

    def close(self) -> None:
        self._db.close()
