"""A run's start stamp held back for the run's next commit (a shared host's journals).

Starting a run writes the instance's meta (workflow, params, generation,
start time): a DuckDB commit of its own, one of three for a 1-step instance
on a shared host. Nothing needs it on disk before the run writes anything
else: a process that dies first leaves a journal without it, and the next
run writes it again from the supervisor's registry row, exactly as for a
journal never started. So a journal may hold it back (:meth:`arm`, by the
host that opened it) and write it in the same transaction as its next write
(the first step's, a sleep's, an event's, the result's) or when it closes.

Only the start stamp (meta that sets ``started_at``) is held, and only the
first meta write after :meth:`arm`: a result or a rollback mark is never held.
"""

from __future__ import annotations

from collections.abc import Iterable

MetaRows = list[tuple[str, str | None]]


class PendingMeta:
    """Meta rows written with the journal's next commit (see module doc)."""

    def __init__(self) -> None:
        self.rows: dict[str, str | None] = {}
        self._armed = False

    def arm(self) -> None:
        """Hold back the next meta write if it is a run's start stamp."""
        self._armed = True

    def hold(self, rows: MetaRows) -> bool:
        """Keep ``rows`` for later if armed and they stamp a start; disarms either way."""
        armed, self._armed = self._armed, False
        if armed and any(key == "started_at" for key, _ in rows):
            self.rows.update(rows)
            return True
        return False

    def with_rows(self, rows: Iterable[tuple[str, str | None]] = ()) -> MetaRows:
        """The held rows, then ``rows`` (later values win), for one INSERT OR REPLACE."""
        merged = dict(self.rows)
        merged.update(rows)
        return list(merged.items())

    def written(self) -> None:
        """The held rows were committed."""
        self.rows.clear()
        self._armed = False
