"""The analytics store: ``<storage>/analytics.duckdb``, fed from journals.

Only the supervisor's process opens it. It holds one row per metrics event
(see :mod:`.events`) with its dimensions pre-bucketed, and one watermark row
per instance generation (what was last ingested, and whether that generation
is final and so never needs reading again).

.. code-block:: python

    store = AnalyticsStore(root, retention=31 * 86400)
    report = store.ingest(registry_rows)      # in a thread, off the event loop
    store.query(AnalyticsQuery(dataset="workflowsAdaptiveGroups", ...))

Exactly once, under any crash: every event has a key stable for its instance
generation and the table's primary key ignores a row it already has; the
events of one instance and its watermark are written in one transaction. A
re-run after a kill -9 reads the same journals again and adds only what is
missing. Nothing is written on the engine's hot path: ingest only reads
journals of instances that are not live (hibernated or final), and the
folded copy in the history store of a finished instance whose journal file
was folded (``storage/history.py``), so folding loses no event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb

from ..errors import JournalCorrupt, JournalLocked, PyflowError, StorageUnavailable
from ..models import FINAL_STATUSES, InstanceStatus
from ..storage.duck import (
    GuardedConnection,
    set_aside_unfinished,
    storage_unavailable,
    transaction,
)
from ..storage.history import HISTORY_FILE, FinishedJournal, reader_store
from ..storage.journal import DuckJournal, journal_path
from .events import InstanceFacts, MetricEvent, derive_events
from .query import QUANTILES, AnalyticsQuery, AnalyticsResult, render_time
from .sql import build_query
from .stats import HistogramSnapshot, StepSummary

log = logging.getLogger("pyflow.analytics")

DEFAULT_RETENTION = 31 * 86400.0
T = TypeVar("T")
RowKey = tuple[str, str, int]  # (workflow, instance id, generation)
Derived = tuple[InstanceFacts, list[MetricEvent], bool]  # facts, events, generation done

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    workflow_name VARCHAR, instance_id VARCHAR, generation INTEGER, event_key VARCHAR,
    event_type VARCHAR, step_name VARCHAR, step_count INTEGER, wall_time BIGINT,
    datetime TIMESTAMP, datetime_minute TIMESTAMP, datetime_five_minutes TIMESTAMP,
    datetime_fifteen_minutes TIMESTAMP, datetime_hour TIMESTAMP, date DATE,
    PRIMARY KEY (workflow_name, instance_id, generation, event_key)
);
CREATE TABLE IF NOT EXISTS watermarks (
    workflow_name VARCHAR, instance_id VARCHAR, generation INTEGER,
    events INTEGER, final BOOLEAN, ingested_at DOUBLE,
    PRIMARY KEY (workflow_name, instance_id, generation)
);
"""


# A pass's rows go in as one list per column (``unnest``): a statement of N rows'
# values bound one by one (N x 14 parameters) cost ~1.7 ms of CPU per 3-step
# instance's 15 events, the lists ~0.4 ms (issue 17's profile of the supervisor).
EVENT_TYPES = (
    "VARCHAR", "VARCHAR", "INTEGER", "VARCHAR", "VARCHAR", "VARCHAR", "INTEGER", "BIGINT",
    "TIMESTAMP", "TIMESTAMP", "TIMESTAMP", "TIMESTAMP", "TIMESTAMP", "DATE",
)  # fmt: skip
MARK_TYPES = ("VARCHAR", "VARCHAR", "INTEGER", "INTEGER", "BOOLEAN", "DOUBLE")


class InstanceLike(Protocol):
    """What ingest needs of a registry row (``storage.registry.InstanceRow`` fits)."""

    @property
    def workflow(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def created_at(self) -> float: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def ended_at(self) -> float | None: ...


@dataclass
class IngestReport:
    """What one ingest pass did."""

    read: int = 0  # instances whose events were (re)derived
    added: int = 0  # new event rows
    done_before: int = 0  # final generations skipped: ingested already
    busy: int = 0  # journals held by a live actor: next pass
    busy_keys: set[tuple[str, str, int]] = field(default_factory=set)  # which ones
    awaiting_fold: int = 0  # finished moments ago: read from the history store next pass
    unreadable: int = 0  # corrupt journals: registry facts only
    purged: int = 0  # rows dropped by retention


def _buckets(moment: dt.datetime) -> tuple[dt.datetime, ...]:
    minute = moment.replace(second=0, microsecond=0)
    return (
        moment,
        minute,
        minute.replace(minute=minute.minute - minute.minute % 5),
        minute.replace(minute=minute.minute - minute.minute % 15),
        minute.replace(minute=0),
    )


def _row(event: MetricEvent) -> list[Any]:
    moment = event.datetime
    return [
        event.workflow, event.instance_id, event.generation, event.key, event.event_type.value,
        event.step_name, event.step_count, event.wall_time_ms, *_buckets(moment), moment.date(),
    ]  # fmt: skip


class AnalyticsStore:
    """The analytics DuckDB file under a storage root. Thread-safe (one lock)."""

    def __init__(
        self, root: Path, *, retention: float = DEFAULT_RETENTION, path: Path | None = None
    ) -> None:
        """``root`` is the engine's storage root (journals); the store's own file is
        ``<root>/analytics.duckdb`` unless ``path`` says otherwise."""
        self.root = Path(root)
        self.path = Path(path) if path is not None else self.root / "analytics.duckdb"
        self.retention = retention
        self._lock = threading.Lock()
        self.summary: StepSummary | None = None  # as of the last ingest that added events
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            set_aside_unfinished(self.path)  # cut off while created: the supervisor started
            connection = duckdb.connect(str(self.path))  # no more (kept aside; re-ingested)
            connection.execute(SCHEMA)
        except (OSError, duckdb.Error) as exc:
            raise storage_unavailable(exc, self.path) or exc from exc
        self._db = GuardedConnection(connection, lambda exc: storage_unavailable(exc, self.path))
        # One in-memory DuckDB instance the journals an ingest reads are attached to in
        # turn: a new instance per journal cost ~10-15 ms of CPU each, the largest share
        # of the supervisor's CPU per alarm wake-up (issue 17's profile).
        self._journals: duckdb.DuckDBPyConnection | None = None

    # -- ingest ---------------------------------------------------------------

    def ingest(
        self,
        instances: Iterable[InstanceLike],
        *,
        now: float | None = None,
        fold_wait: float = 0.0,
    ) -> IngestReport:
        """Derive and store the events of ``instances`` (registry rows of instances
        that are not live), then apply retention. Safe to re-run at any time.

        ``fold_wait``: an instance that finished less than this many seconds ago
        and still has its journal file is left for a later pass (in
        ``busy_keys``), when the supervisor has folded it into the history
        store: read from there with many others, it costs ~10 ms of CPU less
        than opening its journal (~39 ms here). All of a pass's events and
        watermarks are one transaction (exactly once, as before)."""
        now = time.time() if now is None else now
        report = IngestReport()
        with self._lock:
            done = self._final_generations()
            todo = []
            for row in instances:
                if (row.workflow, row.id, row.generation) in done:
                    report.done_before += 1
                elif self._awaits_fold(row, now, fold_wait):
                    report.awaiting_fold += 1
                    report.busy_keys.add((row.workflow, row.id, row.generation))
                else:
                    todo.append(row)
            folded = self._folded([r for r in todo if r.status in FINAL_STATUSES])
            batch = [
                self._derive(row, now, report, folded.get((row.workflow, row.id))) for row in todo
            ]
            report.added += self._write([item for item in batch if item is not None], now)
            report.purged = self._purge(now)
            if report.added or self.summary is None:
                self.summary = self._step_summary()
        return report

    def _awaits_fold(self, row: InstanceLike, now: float, fold_wait: float) -> bool:
        return (
            fold_wait > 0
            and row.status in FINAL_STATUSES
            and now - (row.ended_at or 0.0) < fold_wait
            and journal_path(self.root, row.workflow, row.id).exists()
        )

    def _folded(self, rows: list[InstanceLike]) -> dict[tuple[str, str], FinishedJournal]:
        """The folded journals (history store) of finished instances with no journal file."""
        keys = [
            (r.workflow, r.id)
            for r in rows
            if not journal_path(self.root, r.workflow, r.id).exists()
        ]
        if not keys or not (self.root / HISTORY_FILE).exists():
            return {}
        try:
            with reader_store(self.root).session() as session:
                return session.views(keys)
        except PyflowError as exc:  # held by another process a moment too long: next pass
            log.warning("analytics: history store unreadable (%s): registry facts only", exc)
            return {}

    def _final_generations(self) -> set[tuple[str, str, int]]:
        rows = self._db.execute(
            "SELECT workflow_name, instance_id, generation FROM watermarks WHERE final"
        ).fetchall()
        return {(r[0], r[1], r[2]) for r in rows}

    def _derive(
        self,
        row: InstanceLike,
        now: float,
        report: IngestReport,
        folded: FinishedJournal | None = None,
    ) -> Derived | None:
        """The instance's events (and whether its generation is done), or None: busy."""
        facts = InstanceFacts(
            row.workflow, row.id, InstanceStatus(row.status), row.generation, row.created_at,
            row.started_at, row.ended_at,
        )  # fmt: skip
        steps: list[Any] = []
        readable = True
        path = journal_path(self.root, row.workflow, row.id)
        if folded is not None:  # its journal file was folded into the history store
            facts, steps = _read_journal(folded, facts)
        elif path.exists():
            try:
                if self._journals is None:
                    self._journals = duckdb.connect(":memory:")
                with DuckJournal(path, read_only=True, database=self._journals) as journal:
                    facts, steps = _read_journal(journal, facts)
            except JournalLocked:
                report.busy += 1  # its actor is alive: the next pass reads it
                report.busy_keys.add((row.workflow, row.id, row.generation))
                return None
            except (JournalCorrupt, StorageUnavailable) as exc:
                log.warning("analytics: journal %s unreadable (%s): registry facts only", path, exc)
                report.unreadable += 1
                readable = False
        cutoff = now - self.retention
        events = [e for e in derive_events(facts, steps) if e.at >= cutoff]
        report.read += 1
        return facts, events, facts.status in FINAL_STATUSES and readable

    def _write(self, batch: list[Derived], now: float) -> int:
        """Store a pass's events and watermarks in one transaction; how many were new.
        Statements of many rows: DuckDB's executemany runs one statement per row
        (~10 ms each under load, measured here), and a transaction per instance
        cost ~10 ms of CPU each (issue 17's profile of the supervisor)."""
        if not batch:
            return 0
        events = [_row(e) for _, found, _ in batch for e in found]
        keys = {(f.workflow, f.instance_id, f.generation): final for f, _, final in batch}
        with transaction(self._db):
            before = self._total()
            if events:
                self._db.execute(f"INSERT OR IGNORE INTO events {_unnest(EVENT_TYPES)}",
                                 _columns(events, len(EVENT_TYPES)))  # fmt: skip
            counts = self._counts(list(keys))
            marks = [[*key, counts.get(key, 0), final, now] for key, final in keys.items()]
            self._db.execute(f"INSERT OR REPLACE INTO watermarks {_unnest(MARK_TYPES)}",
                             _columns(marks, len(MARK_TYPES)))  # fmt: skip
            return self._total() - before

    def _total(self) -> int:
        return int(self._db.scalar("SELECT count(*) FROM events"))

    def _counts(self, keys: list[RowKey]) -> dict[RowKey, int]:
        """Events stored per instance generation, for ``keys``."""
        if not keys:
            return {}
        found = self._db.execute(
            "SELECT e.workflow_name, e.instance_id, e.generation, count(*) FROM events e "
            f"JOIN ({_unnest(MARK_TYPES[:3])}) AS k(w, i, g) ON e.workflow_name = k.w "
            "AND e.instance_id = k.i AND e.generation = k.g GROUP BY ALL",
            _columns([list(key) for key in keys], 3),
        ).fetchall()
        return {
            (workflow, instance, generation): int(n) for workflow, instance, generation, n in found
        }

    # -- retention --------------------------------------------------------------

    def purge(self, *, now: float | None = None) -> int:
        """Drop events (and watermarks) older than the retention; how many events."""
        with self._lock:
            return self._purge(time.time() if now is None else now)

    def _purge(self, now: float) -> int:
        cutoff = dt.datetime.fromtimestamp(now - self.retention, dt.timezone.utc).replace(
            tzinfo=None
        )
        with transaction(self._db):
            row = self._db.execute(
                "SELECT count(*) FROM events WHERE datetime < ?", [cutoff]
            ).fetchone()
            self._db.execute("DELETE FROM events WHERE datetime < ?", [cutoff])
            # A final generation ingested before the cutoff has no events left to
            # add: a re-read would drop them all by age anyway.
            self._db.execute("DELETE FROM watermarks WHERE ingested_at < ?", [now - self.retention])
        return int(row[0]) if row else 0

    # -- queries ----------------------------------------------------------------

    def query(self, query: AnalyticsQuery) -> AnalyticsResult:
        """Answer one dataset query (see :class:`~.query.AnalyticsQuery`)."""
        sql, params, columns = build_query(query)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        out = []
        for values in rows:
            record = {name: _json_value(v) for name, v in zip(columns, values, strict=True)}
            if query.dataset == "workflowsAdaptiveGroups" and not record.get("count"):
                continue  # an aggregate without a group-by over no rows
            out.append(record)
        return AnalyticsResult(rows=out)

    def step_summary(self) -> StepSummary:
        """Step durations and attempt outcomes per workflow (for ``/metrics``)."""
        with self._lock:
            return self._step_summary()

    def _step_summary(self) -> StepSummary:
        """Step durations and attempt outcomes per workflow (the lock held)."""
        durations = self._db.execute(
            "SELECT workflow_name, list(wall_time) FROM events "
            "WHERE event_type IN ('STEP_SUCCESS', 'STEP_FAILURE') GROUP BY workflow_name"
        ).fetchall()
        attempts = self._db.execute(
            "SELECT workflow_name, event_type, count(*) FROM events "
            "WHERE event_type IN ('ATTEMPT_SUCCESS', 'ATTEMPT_FAILURE') "
            "GROUP BY workflow_name, event_type"
        ).fetchall()
        summary = StepSummary()
        for workflow, walls in durations:
            summary.durations[workflow] = HistogramSnapshot.of(
                [w / 1000 for w in walls if w is not None]
            )
        for workflow, kind, n in attempts:
            outcome = "success" if kind == "ATTEMPT_SUCCESS" else "failure"
            summary.attempts.setdefault(workflow, {})[outcome] = int(n)
        return summary

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._journals is not None:
                self._journals.close()


def _read_journal(
    journal: DuckJournal | FinishedJournal, facts: InstanceFacts
) -> tuple[InstanceFacts, list[Any]]:
    """The journal's view of the instance (it is written first, so it wins)."""
    meta, result, steps = journal.meta(), journal.result(), journal.steps()
    generation = int(meta.get("generation") or facts.generation)
    if generation != facts.generation:
        # The journal already belongs to another generation (a restart): its
        # steps are not this generation's; count only the registry's facts.
        return facts, []
    started = float(meta["started_at"]) if meta.get("started_at") else facts.started_at
    status, ended = facts.status, facts.ended_at
    if result is not None:
        status, ended = InstanceStatus(result.status), result.ended_at or ended
    created = float(meta["created_at"]) if meta.get("created_at") else facts.created_at
    return (
        InstanceFacts(
            facts.workflow, facts.instance_id, status, generation, created, started, ended
        ),
        list(steps.values()),
    )


def _unnest(types: tuple[str, ...]) -> str:
    """``SELECT`` of rows given as one typed list parameter per column (see ``_columns``)."""
    return "SELECT " + ", ".join(f"unnest(?::{kind}[])" for kind in types)


def _columns(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column, the parameters of :func:`_unnest`."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return render_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


__all__ = ["DEFAULT_RETENTION", "QUANTILES", "AnalyticsStore", "IngestReport", "InstanceLike"]
