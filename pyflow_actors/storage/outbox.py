"""The subscription outbox: messages waiting to be delivered, in the registry file.

A status change and the messages it publishes are written in one transaction
(:meth:`Registry.save` with ``messages``), so a message is never lost and
never sent for a change that did not happen, whatever process dies when.
Delivered messages are deleted; a message that keeps failing moves to the
``dead_letters`` table. Messages of one instance (per subscription) go out in
order: only the oldest pending message of an instance is ever due or leased.

Two ways out:

- webhooks: :meth:`Outbox.due` gives the messages to POST now;
  :meth:`delivered` / :meth:`failed` record the outcome (failures back off);
- pull queues (Cloudflare Queues' HTTP pull consumer): :meth:`pull` leases
  messages for a visibility timeout, :meth:`ack` acknowledges or retries them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .duck import GuardedConnection, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq BIGINT PRIMARY KEY, subscription VARCHAR, queue VARCHAR,
    workflow VARCHAR, instance_id VARCHAR, body VARCHAR, created_at DOUBLE,
    attempts INTEGER, next_at DOUBLE, lease_id VARCHAR, lease_until DOUBLE,
    last_error VARCHAR
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq BIGINT PRIMARY KEY, subscription VARCHAR, queue VARCHAR,
    workflow VARCHAR, instance_id VARCHAR, body VARCHAR, created_at DOUBLE,
    attempts INTEGER, last_error VARCHAR, dead_at DOUBLE
);
"""
_COLUMNS = (
    "seq, subscription, queue, workflow, instance_id, body, created_at, attempts, "
    "lease_id, last_error"
)
# The oldest pending message of each (subscription, instance): the only one that may go.
_HEADS = """
SELECT * FROM outbox QUALIFY row_number() OVER (
    PARTITION BY subscription, workflow, instance_id ORDER BY seq) = 1
"""
MAX_ATTEMPTS = 10
BASE_DELAY = 1.0
MAX_DELAY = 300.0


@dataclass(frozen=True)
class OutboxItem:
    """A message to publish: for ``subscription``, to a webhook (``queue`` None) or a queue."""

    subscription: str
    workflow: str
    instance_id: str
    body: str  # the JSON text sent as is (webhook signatures cover these bytes)
    queue: str | None = None


@dataclass(frozen=True)
class OutboxMessage:
    seq: int
    subscription: str
    queue: str | None
    workflow: str
    instance_id: str
    body: str
    created_at: float
    attempts: int
    lease_id: str | None = None
    last_error: str | None = None


def backoff(attempts: int, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4... up to 5 min."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


class Outbox:
    """The outbox tables, on the registry's connection (the supervisor's process)."""

    def __init__(self, db: GuardedConnection, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self._db, self.max_attempts = db, max_attempts
        self._db.execute(SCHEMA)

    # -- writing (inside the caller's transaction) -------------------------------

    def add(self, items: list[OutboxItem], now: float) -> None:
        """Append messages (call inside the transaction of the change that causes them)."""
        if not items:
            return
        row = self._db.execute(
            "SELECT greatest((SELECT coalesce(max(seq), 0) FROM outbox), "
            "(SELECT coalesce(max(seq), 0) FROM dead_letters))"
        ).fetchone()
        seq = int(row[0]) if row else 0
        self._db.executemany(
            "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, NULL, NULL)",
            [
                [seq + i, it.subscription, it.queue, it.workflow, it.instance_id, it.body, now, now]
                for i, it in enumerate(items, start=1)
            ],
        )

    # -- webhooks -------------------------------------------------------------

    def due(self, now: float, limit: int = 100) -> list[OutboxMessage]:
        """Webhook messages to send now, oldest first, at most one per instance."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM ({_HEADS}) WHERE queue IS NULL AND next_at <= ? "
            "ORDER BY seq LIMIT ?",
            [now, limit],
        ).fetchall()
        return [OutboxMessage(*r) for r in rows]

    def delivered(self, seq: int) -> None:
        self._db.execute("DELETE FROM outbox WHERE seq = ?", [seq])

    def failed(self, seq: int, error: str, now: float) -> bool:
        """Record a failed try; back off, or dead-letter it. True if it is now dead."""
        with transaction(self._db):
            row = self._db.execute("SELECT attempts FROM outbox WHERE seq = ?", [seq]).fetchone()
            if row is None:
                return False
            attempts = int(row[0]) + 1
            self._db.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_at = ?, lease_id = NULL, "
                "lease_until = NULL WHERE seq = ?",
                [attempts, error[:1000], now + backoff(attempts), seq],
            )
            if attempts < self.max_attempts:
                return False
            self._bury([seq], now)
            return True

    def dead_letter(self, seq: int, error: str, now: float) -> None:
        """Give up on a message at once (its subscription is gone from the config)."""
        with transaction(self._db):
            self._db.execute("UPDATE outbox SET last_error = ? WHERE seq = ?", [error[:1000], seq])
            self._bury([seq], now)

    def _bury(self, seqs: list[int], now: float) -> None:
        if not seqs:
            return
        self._db.execute(
            "INSERT INTO dead_letters SELECT seq, subscription, queue, workflow, instance_id, "
            "body, created_at, attempts, last_error, ? FROM outbox WHERE seq IN (SELECT unnest(?))",
            [now, seqs],
        )
        self._db.execute("DELETE FROM outbox WHERE seq IN (SELECT unnest(?))", [seqs])

    # -- pull queues ------------------------------------------------------------

    def pull(
        self, queue: str, batch_size: int, visibility_timeout: float, now: float
    ) -> list[OutboxMessage]:
        """Lease up to ``batch_size`` messages of ``queue`` for ``visibility_timeout`` s."""
        with transaction(self._db):
            # A lease that ran out counts as a failed delivery; out of attempts: dead.
            self._db.execute(
                "UPDATE outbox SET last_error = 'visibility timeout expired', lease_id = NULL "
                "WHERE queue = ? AND lease_until <= ? AND lease_id IS NOT NULL",
                [queue, now],
            )
            spent = self._db.execute(
                "SELECT seq FROM outbox WHERE queue = ? AND lease_id IS NULL AND attempts >= ?",
                [queue, self.max_attempts],
            ).fetchall()
            self._bury([int(r[0]) for r in spent], now)
            rows = self._db.execute(
                f"SELECT seq FROM ({_HEADS}) WHERE queue = ? AND lease_id IS NULL AND next_at <= ? "
                "ORDER BY seq LIMIT ?",
                [queue, now, batch_size],
            ).fetchall()
            leased = []
            for (seq,) in rows:
                lease = uuid.uuid4().hex
                self._db.execute(
                    "UPDATE outbox SET lease_id = ?, lease_until = ?, attempts = attempts + 1 "
                    "WHERE seq = ?",
                    [lease, now + visibility_timeout, seq],
                )
                leased.append(int(seq))
            if not leased:
                return []
            found = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE seq IN (SELECT unnest(?)) ORDER BY seq",
                [leased],
            ).fetchall()
        return [OutboxMessage(*r) for r in found]

    def ack(
        self, queue: str, acks: list[str], retries: list[tuple[str, float]], now: float
    ) -> tuple[int, int, dict[str, str]]:
        """Acknowledge leases (delivered) or retry them after a delay.

        ``(acked, retried, warnings by lease id)``. A late ack (its lease ran out
        but nobody leased the message since) is still accepted."""
        warnings: dict[str, str] = {}
        acked = retried = 0
        with transaction(self._db):
            for lease in acks:
                if self._take(queue, lease):
                    self._db.execute("DELETE FROM outbox WHERE lease_id = ?", [lease])
                    acked += 1
                else:
                    warnings[lease] = "unknown lease id (already acknowledged, or leased again)"
            for lease, delay in retries:
                if self._take(queue, lease):
                    self._db.execute(
                        "UPDATE outbox SET lease_id = NULL, lease_until = NULL, next_at = ? "
                        "WHERE lease_id = ?",
                        [now + max(0.0, delay), lease],
                    )
                    retried += 1
                else:
                    warnings[lease] = "unknown lease id (already acknowledged, or leased again)"
        return acked, retried, warnings

    def _take(self, queue: str, lease: str) -> bool:
        row = self._db.execute(
            "SELECT count(*) FROM outbox WHERE queue = ? AND lease_id = ?", [queue, lease]
        ).fetchone()
        return bool(row and row[0])

    # -- reading ------------------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        """Pending messages per subscription (``/metrics``)."""
        return self._counts("outbox")

    def dead_letter_counts(self) -> dict[str, int]:
        return self._counts("dead_letters")

    def queue_backlog(self, queue: str) -> tuple[int, int, float]:
        """``(messages, bytes, oldest created_at or 0)`` pending in ``queue``."""
        row = self._db.execute(
            "SELECT count(*), coalesce(sum(strlen(body)), 0), coalesce(min(created_at), 0) "
            "FROM outbox WHERE queue = ?",
            [queue],
        ).fetchone()
        return (int(row[0]), int(row[1]), float(row[2])) if row else (0, 0, 0.0)

    def dead_letters(
        self, limit: int = 100, subscription: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest dead letters (for the CLI), newest first."""
        rows = self._db.execute(
            "SELECT seq, subscription, queue, workflow, instance_id, body, attempts, last_error, "
            "dead_at FROM dead_letters WHERE ? IS NULL OR subscription = ? "
            "ORDER BY seq DESC LIMIT ?",
            [subscription, subscription, limit],
        ).fetchall()
        names = ("seq", "subscription", "queue", "workflow", "instance_id", "body", "attempts")
        return [dict(zip((*names, "last_error", "dead_at"), r, strict=True)) for r in rows]

    def _counts(self, table: str) -> dict[str, int]:
        rows = self._db.execute(
            f"SELECT subscription, count(*) FROM {table} GROUP BY subscription"
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}
