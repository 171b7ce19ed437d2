"""Admission: which creates are accepted (ids, limits, creation rate, queue size).

Owns the creation-rate token bucket. :meth:`Admission.new_rows` validates a
create or batch create and builds the queued rows, nothing else: the caller
writes them (durably, in one insert) before it answers. Over a limit nothing
is half-created: the whole call is refused. A batch with per-entry results
(Cloudflare's createBatch object form) refuses each bad entry on its own (an
invalid id or params, an id that exists or came earlier in the batch) and
accepts the others.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ...config import EngineConfig
from ...errors import (
    CreationRateLimited,
    InstanceAlreadyExists,
    InstanceIdRepeated,
    PyflowError,
    QueueFull,
    ValidationError,
)
from ...limits import validate_batch_size, validate_instance_id, validate_payload
from ...models import (
    BatchCreateError,
    BatchCreateResult,
    CreateOptions,
    InstanceStatus,
    InstanceStatusInfo,
)
from ...storage.registry import InstanceRow
from .table import InstanceTable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.tokens, self.at = float(burst), clock()

    def take(self, n: int) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if n > self.tokens:
            return False
        self.tokens -= n
        return True


@dataclass
class Accepted:
    """What a create call gives: rows to write, and rows of a retried call."""

    new: list[InstanceRow]
    existing: list[InstanceRow]
    # Per-entry results only: (index in the batch, its id, why it was refused).
    refused: list[tuple[int, str | None, PyflowError]] = field(default_factory=list)
    order: dict[str, int] = field(default_factory=dict)  # id -> index in the batch

    def result(self, info: Callable[[InstanceRow], InstanceStatusInfo]) -> BatchCreateResult:
        """Per-entry results: the created instances in the batch's order, the refused
        entries with their errors."""
        rows = sorted(self.existing + self.new, key=lambda r: self.order[r.id])
        errors = [BatchCreateError.of(i, instance_id, exc) for i, instance_id, exc in self.refused]
        return BatchCreateResult(created=[info(r) for r in rows], errors=errors)


class Admission:
    def __init__(self, table: InstanceTable, config: EngineConfig) -> None:
        self.table = table
        self.configure(config)

    def configure(self, config: EngineConfig) -> None:
        self.config = config
        self.bucket = TokenBucket(config.creation_rate, config.creation_burst)

    def new_rows(
        self,
        workflow: str,
        options: list[CreateOptions],
        batch: bool,
        request_id: str | None,
        version_id: str | None = None,
        per_entry: bool = False,
    ) -> Accepted:
        limits = self.config.limits
        if batch:
            validate_batch_size(len(options), limits)
        elif len(options) != 1:
            raise ValidationError("create takes exactly one instance; use create_batch for more")
        accepted = Accepted([], [])
        seen: set[str] = set()
        now = time.time()
        for index, option in enumerate(options):
            instance_id = option.id if option.id is not None else str(uuid.uuid4())
            try:
                validate_instance_id(instance_id, limits)
                params = validate_payload(option.params, "params", limits)
            except PyflowError as exc:
                if not per_entry:
                    raise
                accepted.refused.append((index, option.id, exc))
                continue
            row = self.table.get((workflow, instance_id))
            if row is not None or instance_id in seen:
                if row is not None and request_id and row.request_id == request_id:
                    accepted.existing.append(row)  # a retry of a create that went through
                    accepted.order[instance_id] = index
                elif per_entry:
                    accepted.refused.append(
                        (index, instance_id, _taken(workflow, instance_id, row))
                    )
                elif not batch:  # a batch skips ids that exist
                    raise _taken(workflow, instance_id, row)
                continue
            seen.add(instance_id)
            accepted.order[instance_id] = index
            accepted.new.append(
                InstanceRow(
                    workflow=workflow,
                    id=instance_id,
                    status=InstanceStatus.QUEUED,
                    params=params,
                    created_at=now,
                    queue_seq=self.table.next_seq(),
                    request_id=request_id,
                    version_id=version_id,
                    success_retention=option.retention.success if option.retention else None,
                    error_retention=option.retention.error if option.retention else None,
                    schedule=json.dumps(option.schedule) if option.schedule else None,
                )
            )
        if accepted.new:
            self._check_room(len(accepted.new))
        return accepted

    def _check_room(self, n: int) -> None:  # whole call: nothing half-created
        queued = self.table.count(InstanceStatus.QUEUED)
        if queued + n > self.config.max_queued:
            raise QueueFull(
                f"{queued} instances are queued: the limit is {self.config.max_queued}; retry later"
            )
        if not self.bucket.take(n):
            raise CreationRateLimited(
                f"creating instances faster than {self.config.creation_rate:g} per second; "
                "retry later"
            )

    def take_restart(self) -> None:
        if not self.bucket.take(1):
            raise CreationRateLimited("restarting instances faster than the creation rate allows")


def _taken(workflow: str, instance_id: str, row: InstanceRow | None) -> PyflowError:
    """Why an id cannot be created: it exists (``row``), or came earlier in the batch."""
    if row is None:
        return InstanceIdRepeated(
            f"instance id {instance_id!r} is repeated in the batch: only its first entry is created"
        )
    return InstanceAlreadyExists(
        f"instance {instance_id!r} already exists in workflow {workflow!r}: "
        "use a new id, or restart the existing instance"
    )
