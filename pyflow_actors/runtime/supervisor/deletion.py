"""Deleting instances: the live run stopped, then the journal (or its folded
copy in the history store), the log, the registry row and its inbox events erased (Cloudflare's ``instance.delete()``
and ``deleteBatch``), and purges of instances past their retention (the
instance's own, else its workflow's default, else the engine's), which go
through the same erase.

A running instance is stopped without anything journaled (as a restart stops
it): its journal goes next anyway. Ids are checked before anything is
deleted, so a bad id fails the whole call; an unknown id is an error entry
for that id only.
"""

from __future__ import annotations

from collections.abc import Callable

from ... import instance_logs
from ...errors import InstanceNotFound, ValidationError
from ...limits import Limits, validate_instance_id
from ...models import (
    FINAL_STATUSES,
    BatchDeleteResult,
    DeletedInstance,
    DeleteError,
    InstanceStatus,
)
from ...retention import Retention
from ...storage.journal import remove_journal
from ...storage.registry import InstanceRow
from .actors import InstanceActors
from .history import HistoryFolding
from .inbox import Inbox
from .table import InstanceTable
from .warm import WarmPool


class Deletion:
    """Deletes instances; the only code that erases an instance's files."""

    def __init__(
        self,
        table: InstanceTable,
        actors: InstanceActors,
        warm: WarmPool,
        inbox: Inbox,
        history: HistoryFolding | None = None,
    ) -> None:
        self.table, self.actors, self.warm, self.inbox = table, actors, warm, inbox
        self.history = history

    async def delete(self, workflow: str, ids: list[str], limits: Limits) -> BatchDeleteResult:
        """Delete ``ids`` of ``workflow``; the outcome of each id, in the order given
        (a repeated id is deleted once, its outcome repeated)."""
        if not 1 <= len(ids) <= limits.max_batch_size:
            raise ValidationError(
                f"a delete takes 1 to {limits.max_batch_size} instance ids, got {len(ids)}"
            )
        for instance_id in ids:
            validate_instance_id(instance_id, limits)
        deleted: set[str] = set()
        for instance_id in dict.fromkeys(ids):
            if await self._delete_one(workflow, instance_id):
                deleted.add(instance_id)
        return BatchDeleteResult(
            deleted=[DeletedInstance(id=i) for i in ids if i in deleted],
            errors=[_not_found(workflow, i) for i in ids if i not in deleted],
        )

    async def _delete_one(self, workflow: str, instance_id: str) -> bool:
        key = (workflow, instance_id)
        while key in self.actors:  # stop it; nothing of the run is kept
            await self.actors.stop(key, "cancel")
        row = self.table.get(key)
        if row is None:
            return False
        # From here to the end no await: nothing may start the row again.
        self.warm.drop(key)
        self.inbox.drop(key)
        self.erase([row])
        return True

    def purge_expired(self, now: float, retention_of: Callable[[InstanceRow], Retention]) -> int:
        """Erase the final instances kept longer than their retention; how many."""
        expired = [
            row
            for row in self.table
            if row.status in FINAL_STATUSES
            and (row.ended_at or 0) + kept_for(row, retention_of(row)) < now
        ]
        self.erase(expired)
        return len(expired)

    def erase(self, rows: list[InstanceRow]) -> None:
        """Remove the rows (with their inbox events), journals, folded copies and logs."""
        storage = self.table.storage
        for row in rows:
            remove_journal(self.table.journal_path(row))
            instance_logs.remove(storage, row.workflow, row.id)
        if self.history is not None:
            self.history.forget([row.key for row in rows])
        self.table.remove(rows)


def _not_found(workflow: str, instance_id: str) -> DeleteError:
    error = InstanceNotFound(f"instance {instance_id!r} not found in workflow {workflow!r}")
    message = f"{error.code}: {error.message}"
    return DeleteError(id=instance_id, code=error.numeric_code, message=message)


def resolve_retention(
    row: InstanceRow, workflow_default: Retention | None, engine_seconds: float
) -> Retention:
    """The instance's retention: its own, then its workflow's default, then the engine's."""
    own = Retention(success=row.success_retention, error=row.error_retention)
    engine = Retention(success=engine_seconds, error=engine_seconds)
    return own.over(workflow_default).over(engine)


def kept_for(row: InstanceRow, retention: Retention) -> float:
    """Seconds a finished ``row`` is kept after it ended, under a resolved ``retention``."""
    seconds = retention.seconds_for(errored=row.status == InstanceStatus.ERRORED)
    return seconds if seconds is not None else 0.0
