"""A run's start stamp held back for a later commit (a shared host's journals).

Starting a run writes the instance's meta (workflow, params, generation,
start time): a DuckDB commit of its own, one of three for a 1-step instance
on a shared host. Nothing needs it on disk before the run writes anything
else: a process that dies first leaves a journal without it, and the next
run writes it again from the supervisor's registry row, exactly as for a
journal never started. So a journal may hold it back (:meth:`arm`, by the
host that opened it) and write it with a later write: the result's (one
INSERT of the start and result rows), a transaction's (an event's, a retried
step's), or when it closes. A step committed alone (one INSERT) takes it only
once it has been held ``HOLD_SECONDS`` (:meth:`due`): a short run's steps stay
one statement each, with no BEGIN, meta INSERT and COMMIT around its first
(~2 ms of a host's CPU per instance, issue 17's profile), and a long run's
journal is not left without its meta for longer than before (until its first
commit, give or take that step).

Only the start stamp (meta that sets ``started_at``) is held, and only the
first meta write after :meth:`arm`: a result or a rollback mark is never held.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

HOLD_SECONDS = 0.5  # a held stamp goes with a step's lone commit once held this long

MetaRows = list[tuple[str, str | None]]


class PendingMeta:
    """Meta rows written with the journal's next commit (see module doc)."""

    def __init__(self) -> None:
        self.rows: dict[str, str | None] = {}
        self._armed = False
        self._since = 0.0  # when the rows were held (monotonic)

    def arm(self) -> None:
        """Hold back the next meta write if it is a run's start stamp."""
        self._armed = True

    def hold(self, rows: MetaRows) -> bool:
        """Keep ``rows`` for later if armed and they stamp a start; disarms either way."""
        armed, self._armed = self._armed, False
        if armed and any(key == "started_at" for key, _ in rows):
            self.rows.update(rows)
            self._since = time.monotonic()
            return True
        return False

    def due(self) -> bool:
        """Rows are held, for ``HOLD_SECONDS`` or more: a lone step commit takes them."""
        return bool(self.rows) and time.monotonic() - self._since >= HOLD_SECONDS

    def with_rows(self, rows: Iterable[tuple[str, str | None]] = ()) -> MetaRows:
        """The held rows, then ``rows`` (later values win), for one INSERT OR REPLACE."""
        merged = dict(self.rows)
        merged.update(rows)
        return list(merged.items())

    def written(self) -> None:
        """The held rows were committed."""
        self.rows.clear()
        self._armed = False
