"""The soak's storage: a size-limited tmpfs it mounts, fills, frees and makes read-only.

The engine's storage folder lives on it, so the soak can make the disk full
(a filler file takes every free byte) and read-only for a while. A tmpfs in
use cannot be remounted read-only (``mount -o remount,ro`` answers EBUSY while
the engine holds files open for writing), so read-only is a read-only bind
mount laid over the storage folder: every open for writing from then on gets
EROFS (new journals, the create log, set-aside files), while files opened
before keep their write access, as they would on a filesystem that went
read-only under a running process. Removing the bind mount makes it writable.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

CHUNK = 1 << 20


class StorageFault(RuntimeError):
    """The soak could not set up or change its filesystem (not root, no tmpfs)."""


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise StorageFault(f"mount {' '.join(args)}: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


class SmallDisk:
    """A tmpfs of ``size`` at ``mount_point``; the engine's storage is ``folder``."""

    def __init__(self, mount_point: Path, size: str) -> None:
        self.mount_point, self.size = mount_point, size
        self.folder = mount_point / "storage"
        self.filler = mount_point / "filler"
        self.read_only = False
        self.mounted = False

    def mount(self) -> None:
        self.mount_point.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.mount_point))
        self.mounted = True
        self.folder.mkdir()

    def fill(self) -> int:
        """Take every free byte with the filler file; the bytes taken."""
        taken, block = 0, b"\0" * CHUNK
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                try:
                    taken += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(block) == 1:
                        return taken
                    block = block[: len(block) // 16] or b"\0"
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def make_read_only(self) -> None:
        _mount("--bind", str(self.folder), str(self.folder))
        try:
            _mount("-o", "remount,bind,ro", str(self.folder))
        except StorageFault:
            _umount(self.folder)
            raise
        self.read_only = True

    def make_writable(self) -> None:
        if self.read_only:
            _umount(self.folder)
            self.read_only = False

    def unmount(self) -> None:
        """Undo everything (the storage goes with it)."""
        self.make_writable()
        if self.mounted:
            _umount(self.mount_point)
            self.mounted = False
