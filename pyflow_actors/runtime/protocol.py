"""What crosses between the supervisor and an instance actor.

Both sides import this module, so it stays small and free of Ray: the setup
an actor is created with, the request that starts a run, and the outcome a
run reports back (after the instance's journal has it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..config import WorkflowSpec
from ..limits import Limits
from ..models import InstanceStatus


class OutcomeKind(str, Enum):
    """How a run of an instance actor ended."""

    COMPLETE = "complete"
    ERRORED = "errored"
    TERMINATED = "terminated"
    HIBERNATE = "hibernate"  # waiting longer than hibernate_after: the process goes
    PAUSED = "paused"
    CANCELLED = "cancelled"  # stopped without a record (restart)
    STORAGE = "storage"  # set by the supervisor: the journal could not be written

    @property
    def is_final(self) -> bool:
        return self in FINAL_OUTCOMES

    @property
    def status(self) -> InstanceStatus:
        """The final status this outcome gives (only for final outcomes)."""
        return InstanceStatus(self.value)


FINAL_OUTCOMES = frozenset({OutcomeKind.COMPLETE, OutcomeKind.ERRORED, OutcomeKind.TERMINATED})


@dataclass
class InstanceOutcome:
    """What a run of the actor reports to the supervisor (after the journal has it)."""

    kind: OutcomeKind
    output: str | None = None  # JSON text
    error: tuple[str, str] | None = None  # (name, message)
    wake_at: float | None = None
    waiting_for: list[str] = field(default_factory=list)
    started_at: float | None = None


@dataclass(frozen=True)
class RunRequest:
    """Start (or re-attach to) the run of one generation of an instance."""

    generation: int
    params: str | None  # JSON text
    created_at: float


@dataclass(frozen=True)
class InstanceSetup:
    """Everything an instance actor needs, passed once at creation."""

    workflow: str
    instance_id: str
    journal_path: str
    spec: WorkflowSpec
    bindings: dict[str, str]  # binding name -> workflow name
    vars: dict[str, Any]
    hibernate_after: float
    limits: Limits
    code_paths: tuple[str, ...]
    namespace: str
    supervisor_name: str
