"""Folding finished instances into the history store, off the hot path.

Owns which finished instances are folded (``storage/history.py``): after a
row becomes final and its actor is gone, its journal is copied into
``<storage>/history.duckdb`` and its files removed, by a background task that
folds a batch at a time in a thread (a fold never delays a create or a
step). The only other writers of the store are a restart (the journal is
written back first, see :meth:`HistoryFolding.unfold`) and deletion (the
folded copy goes with the row).

A supervisor killed mid-fold loses nothing: the store's copy and the
journal may both exist, and the next pass (it starts with every folded
instance whose journal is still on disk) copies it again in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from ...errors import StorageUnavailable
from ...models import FINAL_STATUSES
from ...storage.history import FoldReport, HistoryStore, history_store
from ...storage.journal import journal_path
from ...storage.registry import InstanceRow
from ..protocol import InstanceOutcome
from .table import InstanceTable, Key

log = logging.getLogger("pyflow.supervisor")

FOLD_EVERY = 2.0  # seconds between passes when nothing pokes the loop
FOLD_BATCH = 200  # instances per transaction
FOLD_GATHER = 0.5  # after a poke, wait this long so that one batch takes several finishes


class HistoryFolding:
    """The supervisor's side of the history store. ``is_live``: the instance still
    has an actor (or a warm one): its journal is not ours to fold yet."""

    def __init__(self, table: InstanceTable, is_live: Callable[[Key], bool]) -> None:
        self.table, self.is_live = table, is_live
        self.store: HistoryStore = history_store(table.storage)
        self.folded: set[Key] = set()
        self.lingering: set[Key] = set()  # folded, yet a journal file is left (crash)
        self.unreadable: set[Key] = set()  # corrupt journals, left for a post-mortem
        self.folds = 0  # instances folded since start (stats)
        self.fold_seconds = 0.0
        self._wake = asyncio.Event()
        self._copies: dict[Key, tuple[int, str]] = {}  # (generation, journal copy) sent
        self._folding = asyncio.Lock()

    def load(self) -> list[InstanceRow]:
        """At start (in a thread): what the store holds; its rows for a lost registry."""
        if not self.store.path.exists():
            return []
        with self.store.session() as session:
            self.folded, rows = session.keys(), session.rows()
        self.lingering = {k for k in self.folded if journal_path(self.table.storage, *k).exists()}
        return rows

    def pending(self) -> list[InstanceRow]:
        """Final rows without an actor whose journal is not folded yet."""
        return [
            replace(r)  # a copy: the thread reads it while the loop goes on
            for r in self.table
            if r.status in FINAL_STATUSES
            and (r.key not in self.folded or r.key in self.lingering)
            and r.key not in self.unreadable
            and not self.is_live(r.key)
        ]

    def poke(self, key: Key | None = None, outcome: InstanceOutcome | None = None) -> None:
        """An instance's run ended: fold it soon (with the copy of its journal its
        host sent, if it sent one: the fold need not read the file again)."""
        row = self.table.get(key) if key is not None else None
        if row is not None and outcome is not None and outcome.history is not None:
            self._copies[row.key] = (row.generation, outcome.history)
        self._wake.set()

    async def run(self, every: float = FOLD_EVERY) -> None:
        """Forever: fold what is pending, then wait for a poke or ``every`` seconds."""
        while True:
            try:
                await self.fold_pending()
            except StorageUnavailable as exc:  # full or read-only: the journals stay meanwhile
                log.warning("folding finished instances waits for the storage: %s", exc.message)
            except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
                log.exception("folding finished instances failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=every)
                await asyncio.sleep(FOLD_GATHER)
            except asyncio.TimeoutError:
                pass

    async def fold_pending(self, batch: int = FOLD_BATCH) -> FoldReport:
        """Fold up to ``batch`` pending instances (one transaction)."""
        async with self._folding:
            rows = self.pending()[:batch]
            if not rows:
                return FoldReport()
            began = time.monotonic()
            report = await asyncio.to_thread(self._fold, rows)
            self.fold_seconds += time.monotonic() - began
            self.folds += len(report.folded)
            self.folded.update(report.folded)
            self.lingering.difference_update(report.folded)
            self.unreadable.update(report.unreadable)
            # Deleted while the thread folded it: its copy goes too.
            gone = [k for k in report.folded if self.table.get(k) is None]
            if gone:
                await asyncio.to_thread(self._remove, gone)
            return report

    def _fold(self, rows: list[InstanceRow]) -> FoldReport:
        copies = {}
        for row in rows:  # a copy of an earlier generation is stale: read the file
            generation, copy = self._copies.pop(row.key, (None, ""))
            if generation == row.generation:
                copies[row.key] = copy
        return self.store.fold(rows, sent=copies)

    def _remove(self, keys: list[Key]) -> None:
        with self.store.session() as session:
            session.remove(keys)
        self.folded.difference_update(keys)

    async def unfold(self, row: InstanceRow) -> None:
        """Before a restart: the journal file back from the store (after any fold in
        flight), so that the new generation starts from it."""
        async with self._folding:
            if row.key not in self.folded:
                return
            await asyncio.to_thread(self._unfold, row.key)

    def _unfold(self, key: Key) -> None:
        with self.store.session() as session:
            session.unfold(*key)
        self.folded.discard(key)
        self.lingering.discard(key)

    def forget(self, keys: Iterable[Key]) -> None:
        """Deleted or purged instances: their folded copies go now (in the caller's
        step, so that a deleted instance never comes back from the store)."""
        keys = list(keys)
        for key in keys:
            self._copies.pop(key, None)
        wanted = [k for k in keys if k in self.folded]
        if wanted:
            self._remove(wanted)

    def forget_workflow(self, workflow: str) -> None:
        self.forget([k for k in self.folded if k[0] == workflow])

    def stats(self) -> dict[str, float]:
        return {"history_folded_total": self.folds, "history_fold_seconds": self.fold_seconds}
