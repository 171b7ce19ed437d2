"""The create log: every accepted create, durable before the answer, until its journal exists.

The registry is an index rebuilt from the journals, but an instance gets its
journal only when it first runs: a queued instance that never started lives
in the registry alone. The create log closes that gap. Each create or batch
create call appends one JSON line per new instance to
``<storage>/creates/<YYYY-MM-DD>.jsonl`` in a single write, fsynced (and the
folder fsynced when the file is new) before the caller gets an answer.
Recovery reads it to bring back the queued instances the registry lost.

It stays small: :meth:`CreateLog.compact` rewrites a day's file without the
entries that are no longer needed (the instance has a journal, ended, or is
gone), atomically (temporary file, fsync, rename), and removes a file once
it is empty. A torn last line (a crash in the middle of the write) is
skipped: that call was never answered.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import StorageUnavailable
from .duck import storage_unavailable

log = logging.getLogger("pyflow.registry")

FOLDER = "creates"


@dataclass(frozen=True, slots=True)
class CreateEntry:
    """One accepted instance: what its queued row needs to be rebuilt."""

    workflow: str
    id: str
    params: str | None
    created_at: float
    request_id: str | None = None
    version_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.workflow, self.id)


@dataclass(frozen=True, slots=True)
class Appended:
    """Where one :meth:`CreateLog.append` began: its file and that file's size before."""

    path: Path
    size: int


class CreateLog:
    """Append-only files of accepted creates under ``<storage>/creates/``."""

    def __init__(self, storage: Path) -> None:
        self.folder = storage / FOLDER

    def append(self, entries: Iterable[CreateEntry], now: float | None = None) -> Appended | None:
        """Write the entries in one write and fsync them; raise
        :class:`StorageUnavailable` (nothing accepted) if the storage refuses.
        Returns where the write began, for :meth:`undo` (None: nothing written)."""
        text = "".join(json.dumps(asdict(e), separators=(",", ":")) + "\n" for e in entries)
        if not text:
            return None
        path = self.folder / f"{time.strftime('%Y-%m-%d', time.gmtime(now))}.jsonl"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                began = Appended(path, os.fstat(descriptor).st_size)
                try:
                    _write_all(descriptor, _after_torn_line(descriptor, began.size) + text)
                    os.fsync(descriptor)
                except OSError:  # refused part way (ENOSPC): nothing of it may stay
                    with contextlib.suppress(OSError):
                        os.ftruncate(descriptor, began.size)
                    raise
            finally:
                os.close(descriptor)
            if new:
                _fsync_folder(self.folder)
        except OSError as exc:
            raise _unavailable(exc, path) from exc
        return began

    def undo(self, appended: Appended) -> None:
        """Take back the last :meth:`append` (its create was refused after it).

        A truncation needs no free space, unlike :meth:`compact`'s rewrite: on a
        full disk the refused entries must not stay for a restart to bring back
        (found by the chaos soak: a create answered 503 came back queued after
        a supervisor restart). Raises ``OSError`` if the storage refuses even that.
        """
        descriptor = os.open(appended.path, os.O_WRONLY)
        try:
            os.ftruncate(descriptor, appended.size)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def entries(self) -> list[CreateEntry]:
        """Every entry, oldest first (in the order the creates were accepted)."""
        return [entry for path in self._files() for entry in _read(path)]

    def compact(self, keep: Callable[[CreateEntry], bool]) -> int:
        """Drop the entries ``keep`` refuses; return how many were dropped."""
        dropped = 0
        for path in self._files():
            entries = _read(path)
            kept = [e for e in entries if keep(e)]
            if len(kept) == len(entries):
                continue
            dropped += len(entries) - len(kept)
            try:
                _rewrite(path, kept)
            except OSError as exc:  # try again at the next compaction
                log.warning("create log %s not compacted: %s", path, exc)
        return dropped

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))


def _read(path: Path) -> list[CreateEntry]:
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            entries.append(CreateEntry(**json.loads(line)))
        except (ValueError, TypeError):
            log.warning("create log %s line %d cannot be read: skipped", path, number)
    return entries


def _after_torn_line(descriptor: int, size: int) -> str:
    """A newline if the file ends in a torn line (a write cut off by kill -9), so
    that the next entry starts a line of its own instead of being glued to it."""
    if size == 0 or os.pread(descriptor, 1, size - 1) == b"\n":
        return ""
    return "\n"


def _write_all(descriptor: int, text: str) -> None:
    """Write all of ``text``: ``os.write`` may write part of it on a nearly full
    disk and say so only by its count (an accepted create cut in half)."""
    data = memoryview(text.encode())
    while data:
        written = os.write(descriptor, data)
        if written <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        data = data[written:]


def _rewrite(path: Path, entries: list[CreateEntry]) -> None:
    if not entries:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_suffix(".jsonl.tmp")
    with temporary.open("w") as out:
        out.writelines(json.dumps(asdict(e), separators=(",", ":")) + "\n" for e in entries)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _unavailable(exc: OSError, path: Path) -> StorageUnavailable | OSError:
    return storage_unavailable(exc, path) or exc
