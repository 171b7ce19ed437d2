"""The status and placement enums: what every process, the instance actors too, names.

Kept free of pydantic so that an instance actor (a fresh process per
activation) can name a status without importing the boundary models:
pydantic and ``models`` cost ~60 ms of CPU per activation (``python -X
importtime``, README: Performance). ``models`` re-exports every name here.
"""

from __future__ import annotations

from enum import Enum


class InstanceStatus(str, Enum):
    """Cloudflare's instance statuses."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ERRORED = "errored"
    TERMINATED = "terminated"
    COMPLETE = "complete"
    WAITING = "waiting"
    WAITING_FOR_PAUSE = "waitingForPause"
    # Running the rollback handlers of its steps (it failed, or a terminate asked for it).
    ROLLING_BACK = "rollingBack"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    def __str__(self) -> str:  # "running", not "InstanceStatus.RUNNING"
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


class Placement(str, Enum):
    """Where an instance runs: its own Ray actor, or a shared host with others."""

    DEDICATED = "dedicated"  # one Ray named actor (process) per active instance
    SHARED = "shared"  # many instances on the event loop of a pooled host actor

    def __str__(self) -> str:
        return self.value


FINAL_STATUSES = frozenset(
    {InstanceStatus.ERRORED, InstanceStatus.TERMINATED, InstanceStatus.COMPLETE}
)

__all__ = ["FINAL_STATUSES", "InstanceStatus", "Placement"]
