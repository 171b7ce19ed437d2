"""The dashboard secret: the key that seals session cookies, kept with the engine's data.

It lives in ``<storage>/dash/session.key`` (mode 0600), made on first use,
so that a restarted gateway, and every gateway serving the same storage
folder, opens the cookies the others sealed. Two gateways starting at once
both write a candidate and hard-link it into place; the loser reads the
winner's. ``PYFLOW_DASH_SECRET`` (a Fernet key) overrides the file, for
gateways that share no storage. Without a storage folder (a gateway over a
remote engine) the key is made per process, and a restart signs everyone out.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet

from pyflow_actors.config import EngineConfig
from pyflow_actors.errors import ConfigError

log = logging.getLogger(__name__)

ENV_SECRET = "PYFLOW_DASH_SECRET"
KEY_FILE = Path("dash") / "session.key"


def _valid(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(
            f"the dashboard secret in {where} is not a Fernet key (32 url-safe base64 bytes): "
            f"remove it to have a new one made (everyone signs in again)"
        ) from None
    return key


def _kept_key(path: Path) -> bytes:
    """The key in ``path``, written there first if there is none yet."""
    if path.exists() and path.stat().st_size == 0:
        # Left empty by a crash of the machine (the link outlived the data): it
        # holds no key; kept beside, and a new one made (everyone signs in again).
        aside = path.with_name(f"{path.name}.unfinished-{time.time_ns()}")
        os.replace(path, aside)
        log.warning("dashboard key %s was empty: kept as %s, a new one made", path, aside)
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            key = Fernet.generate_key()
            if os.write(fd, key) != len(key):  # a nearly full disk took part of it
                raise OSError(errno.ENOSPC, f"{candidate}: the key was written in part")
            os.fsync(fd)
        except OSError:
            os.close(fd)
            candidate.unlink(missing_ok=True)  # never linked into place
            raise
        os.close(fd)
        try:
            os.link(candidate, path)  # atomic: the first gateway's key wins
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return _valid(path.read_bytes().strip(), str(path))


def session_key(config: EngineConfig) -> bytes:
    """The key sealing the dashboard's session cookies (see the module docstring)."""
    configured = os.environ.get(ENV_SECRET, "").strip()
    if configured:
        return _valid(configured.encode(), ENV_SECRET)
    storage = Path(config.storage)
    if not storage.is_dir():
        log.warning("no storage folder at %s: dashboard sessions end with this process", storage)
        return Fernet.generate_key()
    return _kept_key(storage / KEY_FILE)
