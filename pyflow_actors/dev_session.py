"""What ``pyflow dev`` keeps next to its storage, so that a user never re-exports.

Three files in the storage folder:

* ``dev-token.json`` (mode 0600): the token ``pyflow dev`` generated and its
  account. Reused on every start; ``pyflow dev --new-token`` replaces it.
* ``dev.lock``: held (``flock``) by the running ``pyflow dev`` and naming its
  pid: a second engine on the same storage is refused with one line. The
  operating system releases it when the process ends, however it ends.
* ``dev.json`` (mode 0600): the running engine's URL, account and pid, removed
  when it stops. The CLI, run in the project folder (where ``pyflow.toml``
  is), reads it, and the token file, when no ``--url``/``PYFLOW_URL`` and no
  ``--token``/``PYFLOW_TOKEN`` are given.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .config import TokenSpec, load_config
from .errors import PyflowError, StorageInUse, StorageUnavailable
from .processes import pid_alive

TOKEN_FILE = "dev-token.json"
LOCK_FILE = "dev.lock"
SESSION_FILE = "dev.json"
CONFIG_FILE = "pyflow.toml"
RAY_AUTH_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"


@dataclass(frozen=True)
class DevSession:
    """What the CLI needs to reach the running dev engine."""

    url: str
    account: str
    token: str | None
    pid: int


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by its owner only (0600 from the first byte: no window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(temporary, 0o600)  # the umask cannot widen it, but an old file might exist
    os.replace(temporary, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------
# the token


def load_token(storage: Path) -> str | None:
    """The token kept for this storage, if any."""
    data = _read(storage / TOKEN_FILE)
    token = data.get("token") if data else None
    return token if isinstance(token, str) and token else None


def keep_token(storage: Path, token: str, account: str) -> None:
    """Keep the generated token with the storage, owner-readable only."""
    _write_private(storage / TOKEN_FILE, {"token": token, "account": account})


def dev_token(storage: Path, account: str, new: bool = False) -> TokenSpec:
    """The token kept with the storage for ``account``: made and kept the first
    time (or when ``new``), reused on every later start."""
    kept = None if new else load_token(storage)
    if kept is not None:
        return TokenSpec(token=kept, accounts=(account,), name="kept")
    spec = TokenSpec(token="pf_" + secrets.token_urlsafe(32), accounts=(account,), name="generated")
    keep_token(storage, spec.token, account)
    return spec


def quiet_ray(verbose: bool) -> None:
    """Ray's own lines only with ``verbose``; never merged duplicates of ours.

    Set before Ray starts (the driver and its workers read them at start).
    """
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # Ray merges repeated lines otherwise
    if verbose:
        os.environ.setdefault("PYFLOW_RAY_LOGS", "1")  # start_local: log_to_driver
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    else:
        logging.getLogger("ray").setLevel(logging.WARNING)
        # "Token authentication is enabled for this Ray cluster...": Ray's, about Ray's
        # own port, printed at every start; users took it for a pyflow token notice.
        logging.getLogger(RAY_AUTH_NOTICE_LOGGER).setLevel(logging.ERROR)


# ---------------------------------------------------------------------------
# the lock


class StorageLock:
    """An exclusive ``flock`` on ``<storage>/dev.lock`` for this process's lifetime."""

    def __init__(self, storage: Path) -> None:
        self.path = storage / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StorageInUse` naming the holder's pid."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = self.path.open("a+")
        except OSError as exc:  # read-only, full, not ours: the storage cannot be used
            raise StorageUnavailable(
                f"the storage at {self.path.parent} cannot be written "
                f"({exc.strerror or exc}): make it writable, or pass another --storage"
            ) from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise StorageInUse(
                f"storage {str(self.path.parent)!r} is in use by pyflow dev (pid {holder}): "
                "stop it, or pass another --storage"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()  # closing releases the flock
            self._file = None


# ---------------------------------------------------------------------------
# the session (what the CLI discovers)


def publish(storage: Path, url: str, account: str) -> None:
    """Say where the running engine listens (removed by :func:`withdraw`)."""
    _write_private(storage / SESSION_FILE, {"url": url, "account": account, "pid": os.getpid()})


def withdraw(storage: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (storage / SESSION_FILE).unlink()


def find_config(start: Path | None = None) -> Path | None:
    """``pyflow.toml`` in this folder or the nearest parent that has one."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / CONFIG_FILE
        if path.is_file():
            return path
    return None


def discover(config: Path | None = None) -> DevSession | None:
    """The dev engine running for the project here, or ``None``.

    Reads the project's ``pyflow.toml`` (found from the current folder up)
    for its storage, then the session and token files there. A session whose
    process is gone is ignored.
    """

    config = config or find_config()
    if config is None:
        return None
    try:
        storage = Path(load_config(config).storage)
    except PyflowError:
        return None
    session = _read(storage / SESSION_FILE)
    if not session or not isinstance(session.get("url"), str):
        return None
    pid = int(session.get("pid") or 0)
    if pid <= 0 or not pid_alive(pid):
        return None
    return DevSession(
        url=session["url"],
        account=str(session.get("account") or "local"),
        token=load_token(storage),
        pid=pid,
    )


__all__ = [
    "DevSession",
    "StorageInUse",
    "StorageLock",
    "dev_token",
    "discover",
    "find_config",
    "keep_token",
    "load_token",
    "publish",
    "quiet_ray",
    "withdraw",
]
