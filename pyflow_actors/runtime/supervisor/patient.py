"""The supervisor as Ray starts it: a (re)start that waits out broken storage.

Ray restarts a killed supervisor (``max_restarts=-1``), but never again once
its ``__init__`` raised: an actor whose creation task failed is dead for good.
A supervisor killed while the storage was full or read-only, and restarted
before it was freed, raised :class:`~pyflow_actors.errors.StorageUnavailable`
opening its registry, and the engine answered 503 "the pyflow supervisor did
not come back in time" to every call from then on (the chaos soak, seed 21).
This one tries again, with a capped backoff, until the storage takes writes;
meanwhile callers get the same clear 503 as during any restart.
"""

from __future__ import annotations

import logging
import time

from ...config import EngineConfig
from ...errors import StorageUnavailable
from .actor import Supervisor
from .wrapper import ActorBackend

log = logging.getLogger("pyflow.supervisor")

FIRST_DELAY, MAX_DELAY = 0.2, 5.0  # seconds between two tries


class PatientSupervisor(Supervisor):
    """:class:`Supervisor`, started again and again while its storage refuses writes."""

    def __init__(self, config: EngineConfig, backend: ActorBackend | None = None) -> None:
        delay = FIRST_DELAY
        while True:
            try:
                super().__init__(config, backend)
                return
            except StorageUnavailable as exc:
                half_made = getattr(self, "registry", None)
                if half_made is not None:
                    half_made.close()
                    del self.registry
                log.warning("supervisor start: %s (trying again in %.1f s)", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
