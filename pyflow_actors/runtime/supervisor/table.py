"""The instance table: every instance's row, in memory and in the registry.

The only writer of instance rows. Every change goes through :meth:`set_status`
or :meth:`save`, which write the registry before the caller answers anyone;
while the storage refuses writes, changed rows are kept in memory and written
again by :meth:`flush` (the journals stay the source of truth: a lost row is
rebuilt from them at the next start). New rows are also written to the
create log (``storage/create_log.py``) first, so that a queued instance that
has no journal yet survives the loss of the registry. It also keeps the
per-workflow status counts that listing and limits read.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from ...engine.waits import WaitSummary
from ...errors import InstanceNotFound, StorageUnavailable, ValidationError
from ...models import FINAL_STATUSES, ErrorInfo, InstanceStatus, InstanceStatusInfo
from ...serialization import loads
from ...storage.create_log import CreateEntry, CreateLog
from ...storage.journal import journal_path
from ...storage.outbox import OutboxItem
from ...storage.registry import InstanceRow, Registry

log = logging.getLogger("pyflow.supervisor")

Key = tuple[str, str]  # (workflow, instance id)
Counted = tuple[str, InstanceStatus]  # (workflow, status): what the status counts count


# The subscription messages a status change publishes (``before`` is None for a create).
Messages = Callable[[InstanceRow, InstanceStatus | None], list[OutboxItem]]


class InstanceTable:
    """Rows by key, status counts, the queue sequence, and the registry writes.

    ``messages`` gives the subscription messages of each status change; they
    are written in the same transaction as the row (the durable outbox)."""

    def __init__(self, registry: Registry, storage: Path, messages: Messages | None = None) -> None:
        self.registry = registry
        self.storage = storage
        self._messages: Messages = messages or (lambda row, before: [])
        self.storage_errors = 0
        self.creates = CreateLog(storage)
        self._logged: set[Key] | None = None  # keys the create log holds (read at first need)
        self.rows: dict[Key, InstanceRow] = {r.key: r for r in registry.instances()}
        self.counts: Counter[Counted] = Counter((r.workflow, r.status) for r in self.rows.values())
        self._seq = max((r.queue_seq for r in self.rows.values()), default=0)
        # Rows terminated with rollback, kept until it is done (see rolling_back()).
        self._rollbacks: set[Key] = {r.key for r in self.rows.values() if r.rollback_requested}
        # Rows the storage refused, with the messages their changes publish.
        self._unsaved: dict[Key, list[OutboxItem]] = {}
        self._batch: dict[Key, tuple[InstanceRow, list[OutboxItem]]] | None = None

    # -- reads ------------------------------------------------------------

    def get(self, key: Key) -> InstanceRow | None:
        return self.rows.get(key)

    def require(self, workflow: str, instance_id: str) -> InstanceRow:
        row = self.rows.get((workflow, instance_id))
        if row is None:
            raise InstanceNotFound(
                f"instance {instance_id!r} does not exist in workflow {workflow!r}"
            )
        return row

    def __iter__(self) -> Iterator[InstanceRow]:
        return iter(list(self.rows.values()))

    def count(self, status: InstanceStatus, workflow: str | None = None) -> int:
        return sum(n for (w, s), n in self.counts.items() if s == status and workflow in (None, w))

    def shown_counts(self, shown: Mapping[Key, InstanceStatus]) -> Counter[Counted]:
        """The status counts as callers see the instances: ``shown`` is the status
        shown of the rows it names (live ones: a run waiting in its process, or held
        by its host until its alarm, shows waiting though its row says running)."""
        counts = Counter(self.counts)
        for key, status in shown.items():
            row = self.rows.get(key)
            if row is not None and status != row.status:
                counts[(row.workflow, row.status)] -= 1
                counts[(row.workflow, status)] += 1
        return counts

    def counts_of(
        self, workflow: str, shown: Mapping[Key, InstanceStatus] | None = None
    ) -> dict[str, int]:
        counts = self.counts if shown is None else self.shown_counts(shown)
        return {s.value: n for (w, s), n in counts.items() if w == workflow and n}

    def by_status(self, shown: Mapping[Key, InstanceStatus] | None = None) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (_, status), n in (self.counts if shown is None else self.shown_counts(shown)).items():
            totals[status.value] += n
        return {k: v for k, v in totals.items() if v}

    def rolling_back(self) -> list[InstanceRow]:
        """The rows terminated with rollback whose rollback is not done: they show
        rollingBack wherever they are (live or not: queued for a slot, paused)."""
        for key in list(self._rollbacks):
            row = self.rows.get(key)
            if row is None or not row.rollback_requested or row.status in FINAL_STATUSES:
                self._rollbacks.discard(key)  # done, restarted or deleted
        return [self.rows[key] for key in self._rollbacks]

    def journal_path(self, row: InstanceRow) -> Path:
        return journal_path(self.storage, row.workflow, row.id)

    def page(
        self,
        workflow: str,
        status: str | None,
        page: int,
        per_page: int,
        reverse: bool,
        created_after: float | None,
        created_before: float | None,
        shown: Callable[[InstanceRow], InstanceStatus] = lambda r: r.status,
    ) -> tuple[list[InstanceRow], int]:
        """One page of a workflow's instances, newest first (oldest with ``reverse``);
        ``shown`` is the status a caller sees (a live instance may show waiting)."""
        wanted = _status_filter(status)
        if page < 1 or not 1 <= per_page <= 1000:
            raise ValidationError("page must be >= 1 and per_page between 1 and 1000")
        rows = [
            r
            for r in self.rows.values()
            if r.workflow == workflow
            and (wanted is None or shown(r) == wanted)
            and (created_after is None or r.created_at >= created_after)
            and (created_before is None or r.created_at <= created_before)
        ]
        rows.sort(key=lambda r: (r.created_at, r.queue_seq), reverse=not reverse)
        start = (page - 1) * per_page
        return rows[start : start + per_page], len(rows)

    # -- writes -----------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, rows: Iterable[InstanceRow], *, durable: bool = True) -> None:
        """Take new rows: one registry insert (durable before the caller answers)."""
        rows = list(rows)
        if durable:
            appended = self.creates.append(create_entry(r) for r in rows)
            try:
                self.registry.insert(rows, [m for r in rows for m in self._messages(r, None)])
            except Exception:
                refused = {r.key for r in rows}  # not accepted: never bring them back
                try:
                    if appended is not None:
                        self.creates.undo(appended)  # works on a full disk, too
                except OSError:
                    self.creates.compact(lambda entry: entry.key not in refused)
                raise
            if self._logged is not None:
                self._logged.update(r.key for r in rows)
        for row in rows:
            self.rows[row.key] = row
            self.counts[(row.workflow, row.status)] += 1
            if row.rollback_requested:  # rebuilt from a journal marked for rollback
                self._rollbacks.add(row.key)
            if not durable:
                self.save(row)

    def set_status(self, row: InstanceRow, status: InstanceStatus) -> None:
        before = row.status
        if before != status:
            self.counts[(row.workflow, before)] -= 1
            self.counts[(row.workflow, status)] += 1
            row.status = status
            self.save(row, self._messages(row, before))
        else:
            self.save(row)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The rows saved inside are written at its end, in one registry transaction:
        1,000 alarms due at once were 1,000 commits before the first one ran."""
        if self._batch is not None:  # inside another batch: that one writes
            yield
            return
        self._batch = {}
        try:
            yield
        finally:
            batch, self._batch = self._batch, None
            self._save_all(list(batch.values()))

    def _save_all(self, changes: list[tuple[InstanceRow, list[OutboxItem]]]) -> None:
        pending = [(row, self._unsaved.get(row.key, []) + found) for row, found in changes]
        try:
            self.registry.save_many(pending)
        except StorageUnavailable as exc:
            self.storage_errors += 1
            if not self._unsaved:
                log.error("%s: keeping registry changes in memory until it is back", exc)
            self._unsaved.update((row.key, found) for row, found in pending)
        else:
            for row, _ in pending:
                self._unsaved.pop(row.key, None)

    def save(self, row: InstanceRow, messages: list[OutboxItem] | None = None) -> None:
        """Write a row (and the messages its change publishes, in one transaction);
        while the storage refuses, keep both for :meth:`flush`."""
        if row.rollback_requested:
            self._rollbacks.add(row.key)
        if self._batch is not None:  # written at the batch's end
            _, held = self._batch.setdefault(row.key, (row, []))
            held.extend(messages or ())
            return
        pending = self._unsaved.get(row.key, []) + list(messages or ())
        try:
            self.registry.save(row, pending)
        except StorageUnavailable as exc:
            self.storage_errors += 1
            if not self._unsaved:
                log.error("%s: keeping registry changes in memory until it is back", exc)
            self._unsaved[row.key] = pending
        else:
            self._unsaved.pop(row.key, None)

    def refuse_while_unwritable(self) -> None:
        """Raise :class:`StorageUnavailable` while changes wait for the storage: a
        command is refused (503) before it changes anything it could not record."""
        if self._unsaved:
            raise StorageUnavailable(
                f"the storage at {self.storage} refuses writes ({len(self._unsaved)} "
                "changes wait for it); nothing of this call was recorded: retry later"
            )

    def refuse_unless_saved(self, row: InstanceRow) -> None:
        """Raise :class:`StorageUnavailable` if ``row``'s last change is only in memory:
        an answer of 200 means the change is durable."""
        if row.key in self._unsaved:
            raise StorageUnavailable(
                f"the change to instance {row.id!r} is applied but not yet written: the "
                f"storage at {self.storage} refuses writes; it is written when the storage "
                "is back, unless the supervisor stops first: check the instance, then retry"
            )

    def flush(self) -> None:
        """Write the rows the storage refused earlier; stop at the first refusal."""
        for key in list(self._unsaved):
            row = self.rows.get(key)
            if row is None:
                self._unsaved.pop(key, None)
                continue
            self.save(row)
            if key in self._unsaved:
                return

    def remove(self, rows: list[InstanceRow]) -> None:
        """Forget rows (registry rows and their inbox events go in one transaction)."""
        for row in rows:
            del self.rows[row.key]
            self.counts[(row.workflow, row.status)] -= 1
        self.registry.delete_instances([r.key for r in rows])

    def compact_creates(self) -> int:
        """Drop the create log's entries no longer needed: the instance has a
        journal (the source of truth from now on), has ended, or is gone.

        Cheap when nothing is to be dropped (every 30 s, with a long queue): the
        files are read once, at the first call; then only the keys they hold are
        looked at, and a file is rewritten only when it has something to drop."""
        if self._logged is None:
            self._logged = {entry.key for entry in self.creates.entries()}
        done = {key for key in self._logged if not self._needs_create_entry(key)}
        if not done:
            return 0
        dropped = self.creates.compact(lambda entry: entry.key not in done)
        self._logged -= done
        return dropped

    def _needs_create_entry(self, key: Key) -> bool:
        row = self.rows.get(key)
        if row is None or row.status in FINAL_STATUSES:
            return False
        # A row that never started has no journal: no need to look on disk.
        return row.started_at is None or not self.journal_path(row).exists()

    def forget_workflow(self, workflow: str) -> None:
        """Drop a deleted workflow's rows from memory (the registry drops its own)."""
        for row in [r for r in self.rows.values() if r.workflow == workflow]:
            del self.rows[row.key]
            self.counts[(row.workflow, row.status)] -= 1
        self.compact_creates()  # or a restart would bring its queued instances back


def create_entry(row: InstanceRow) -> CreateEntry:
    """The create log's entry for a new row."""
    return CreateEntry(
        row.workflow, row.id, row.params, row.created_at, row.request_id, row.version_id
    )


def info(
    row: InstanceRow, live_wait: WaitSummary | None = None, rolling_back: bool = False
) -> InstanceStatusInfo:
    """The status a caller sees for a row. ``live_wait``: a running instance whose
    actor waits in its process (a sleep, a retry delay, an event) shows waiting.
    ``rolling_back`` (its run says so), or a terminate with rollback not done yet:
    rollingBack."""
    status = shown_status(row, live_wait, rolling_back)
    if status == InstanceStatus.WAITING and row.status == InstanceStatus.RUNNING:
        assert live_wait is not None
        row = replace(row, status=status, wake_at=live_wait[0], waiting_for=list(live_wait[1]))
    elif status != row.status:
        row = replace(row, status=status)
    waiting = row.status == InstanceStatus.WAITING
    return InstanceStatusInfo(
        id=row.id,
        workflow=row.workflow,
        status=row.status,
        error=ErrorInfo(name=row.error_name, message=row.error_message or "")
        if row.error_name
        else None,
        output=loads(row.output) if row.output is not None else None,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        wake_at=row.wake_at if waiting else None,
        waiting_for=list(row.waiting_for) if waiting else [],
        version_id=row.version_id,
        schedule=loads(row.schedule) if row.schedule else None,
    )


def shown_status(
    row: InstanceRow, live_wait: WaitSummary | None = None, rolling_back: bool = False
) -> InstanceStatus:
    """The status a caller sees for a row (see :func:`info`): the one every view
    shows (status, lists, counts, ``/metrics``), so that they all agree."""
    if (rolling_back or row.rollback_requested) and row.status not in FINAL_STATUSES:
        return InstanceStatus.ROLLING_BACK
    if live_wait is not None and row.status == InstanceStatus.RUNNING:
        return InstanceStatus.WAITING
    return row.status


def _status_filter(status: str | None) -> InstanceStatus | None:
    if status is None:
        return None
    try:
        return InstanceStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in InstanceStatus)
        raise ValidationError(f"status {status!r} is invalid: use one of {allowed}") from None
