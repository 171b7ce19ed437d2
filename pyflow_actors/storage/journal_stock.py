"""Journals made ahead of need: a small stock of empty journal files per host.

Creating a journal (attach a new file, create its tables, commit its format
stamp) cost 5-15 ms here where opening an existing one costs ~2 ms, and it
sat on the path of every new shared instance. A shared host keeps a few
made in the background and moves one into place for each new instance.
Only the stock's first journal is made by DuckDB (its template); the others
are copies of the template's file and write-ahead log (~1 ms, against 6-16 ms
for a DuckDB create: the refill was a quarter of a host's CPU per instance).

What keeps it safe:

* The stock lives outside ``journals/`` (``<storage>/journal-stock/<machine>/<pid>-<n>/``):
  recovery and ``pyflow check`` scan ``journals/<workflow>/*.duckdb`` only, so
  an unclaimed file is never taken for an instance.
* A claim is ``link`` then ``unlink``: ``link`` never replaces an existing
  journal, and a file found linked twice (its claimer killed between the two
  calls) is dropped, never handed out again.
* A stocked journal is its file and its write-ahead log (tables and format
  stamp; no start log), moved together: the file first, so a claimer killed
  in between leaves an empty file, which opens as a new journal. It is made
  under a temporary name and renamed once complete (its log first), so a
  half-made one is never claimed.
* The template is made under a temporary name and renamed once complete (its
  log first, its file last), named so that it is never claimed (not
  ``*.duckdb``); a copy is the template's two files as they are, which DuckDB
  opens like the template itself (the log is replayed at the attach).
* A stock whose process is gone (this machine's pids) is removed when a host
  starts its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import uuid
from pathlib import Path

import duckdb

from ..processes import pid_alive
from .journal import DuckJournal

# Empty journals kept per host and storage folder, at first; a claim that finds none
# doubles it, up to MAX_STOCK (a host's instances before the pool grows). With 4, a
# burst of K = 8 or 32 placements made most of its journals the slow way (5-16 ms of
# a host's CPU each, on the instance's path): 61 of 160 3-step instances run 8 at a
# time on an in-process host. A stocked journal is ~60 KB on disk.
STOCK_SIZE = 16
MAX_STOCK = 64
_MAKING = ".making"  # name of a file being made (never claimed: not *.duckdb)
_TEMPLATE = "template.journal"  # the empty journal the others are copied from (never claimed)


def stock_root(storage: Path) -> Path:
    return storage / "journal-stock"


class JournalStock:
    """One process's stock of empty journals for one storage folder."""

    def __init__(
        self, storage: Path, database: duckdb.DuckDBPyConnection, size: int = STOCK_SIZE
    ) -> None:
        machine = stock_root(storage) / socket.gethostname()
        remove_dead_stocks(machine)
        self.folder = machine / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this stock only
        self._database, self.size = database, size
        self._lock = threading.Lock()  # claims and refills come from several threads
        self.claimed = self.made = self.missed = 0

    def claim(self, path: Path) -> bool:
        """Move an empty journal to ``path`` (which must not exist); False: none to give."""
        if _wal(path).exists():
            return False  # a log of an earlier file there: leave that case to a plain create
        with self._lock:
            for ready in sorted(self._ready()):
                if ready.stat().st_nlink > 1:  # its claimer died between link and unlink
                    _remove(ready)
                    continue
                if not _link_pair(ready, path):
                    return False
                _remove(ready)
                self.claimed += 1
                return True
            self.missed += 1
            if self.made:  # not the first refill still under way: more are needed
                self.size = min(MAX_STOCK, self.size * 2)  # the next refill makes them
        return False

    def refill(self) -> int:
        """Make empty journals up to the stock's size (blocking: call it in a thread)."""
        made = 0
        while len(self._ready()) < self.size:
            template = self._template()
            if template is None:
                return made
            name = uuid.uuid4().hex
            making, ready = self.folder / f"{name}{_MAKING}", self.folder / f"{name}.duckdb"
            shutil.copyfile(template, making)
            if _wal(template).exists():
                shutil.copyfile(_wal(template), _wal(making))
            _publish(making, ready)
            made += 1
            self.made += 1
        return made

    def _template(self) -> Path | None:
        """The stock's empty journal to copy (made by DuckDB once); None if it cannot be."""
        template = self.folder / _TEMPLATE
        if template.exists():
            return template
        self.folder.mkdir(parents=True, exist_ok=True)
        making = self.folder / f"{uuid.uuid4().hex}{_MAKING}"
        DuckJournal(making, database=self._database).close()  # its log: tables and stamp
        if _starts(making).exists():  # never: the start log of an empty journal
            _remove(making)
            return None
        _publish(making, template)
        return template

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _ready(self) -> list[Path]:
        try:
            return list(self.folder.glob("*.duckdb"))
        except OSError:
            return []


def remove_dead_stocks(machine: Path) -> None:
    """Remove the stocks (``<pid>-<n>``) of this machine's processes that are gone."""
    with contextlib.suppress(OSError):
        for folder in machine.iterdir():
            pid = folder.name.split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _starts(path: Path) -> Path:
    return path.with_name(path.name + ".starts")


def _publish(making: Path, ready: Path) -> None:
    """Rename a journal made under a temporary name: its log first, the file last."""
    if _wal(making).exists():
        _wal(making).rename(_wal(ready))
    making.rename(ready)  # complete


def _link_pair(ready: Path, path: Path) -> bool:
    """Link the file, then its log, at ``path``; undone (False) if either is refused.
    Killed between the two, ``path`` is an empty file without tables: opening it
    creates them (a plain new journal)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(ready, path)  # refuses to replace a journal that exists
    except OSError:
        return False
    try:
        if _wal(ready).exists():
            os.link(_wal(ready), _wal(path))
    except OSError:
        path.unlink()
        return False
    return True


def _remove(path: Path) -> None:
    for p in (path, _wal(path), _starts(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
