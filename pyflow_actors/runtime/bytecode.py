"""Bytecode for what a Ray worker process imports, written once by the engine's driver.

Ray starts every worker with ``PYTHONDONTWRITEBYTECODE=1``: a worker that finds no
valid ``.pyc`` for a module compiles it from source, at every start, and keeps
nothing. An editable install (``make install``, ``pip install -e``) has no
``.pyc`` for the modules only workers import (the instance actor's path: the
runner, the replay engine, the journal), and a source edited since its last
compile has a stale one; each dedicated activation then compiled them again,
~35 ms of CPU per instance actor (docs/performance-notes.md, "A Ray worker's
start"). :func:`compile_engine_bytecode` compiles what is missing or stale
before the engine's workers start; a fresh ``.pyc`` is only checked (~7 ms for
the whole package; like ``compileall``, by the source's mtime). A folder it may not write (a read-only install) is left as
it is: pip compiled a wheel's modules when it installed them.
"""

from __future__ import annotations

import compileall
import logging
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # pyflow_actors/


def compile_engine_bytecode(package_dir: Path = PACKAGE_DIR) -> bool:
    """Write the missing or stale ``.pyc`` of the engine's package; False if some could not be.

    Never raises: bytecode only saves CPU, a worker compiles what it lacks.
    """
    if not package_dir.is_dir():
        return False
    try:
        # quiet=2: no listing and no error lines; the result says whether all compiled.
        done = compileall.compile_dir(package_dir, quiet=2, workers=1)
    except OSError as exc:  # the folder vanished or cannot be listed
        log.debug("engine bytecode not written: %s", exc)
        return False
    if not done:
        log.debug("engine bytecode: some modules of %s could not be compiled", package_dir)
    return bool(done)


__all__ = ["compile_engine_bytecode"]
