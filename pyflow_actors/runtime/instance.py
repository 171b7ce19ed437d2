"""The dedicated instance actor: one Ray named actor per *active* instance.

It holds one :class:`InstanceRunner` (which owns the journal and runs the
workflow); when the run ends the supervisor lets the process go, so a
hibernating instance costs nothing but its journal file.

Kept cheap to start: an actor is a fresh process, so this module imports only
the runner (engine and journal) and what the workflow itself imports.
"""

from __future__ import annotations

import os

from .runner import InstanceRunner


class InstanceActor(InstanceRunner):
    """A Ray actor running one instance (see :class:`InstanceRunner`)."""

    def pid(self) -> int:
        return os.getpid()
