"""What crosses between the supervisor and an instance actor.

Both sides import this module, so it stays small and free of Ray: the setup
an actor is created with, the request that starts a run, and the outcome a
run reports back (after the instance's journal has it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import WorkflowSpec
from ..engine.records import OutcomeKind
from ..limits import Limits


@dataclass
class InstanceOutcome:
    """What a run of the actor reports to the supervisor (after the journal has it)."""

    kind: OutcomeKind
    output: str | None = None  # JSON text
    error: tuple[str, str] | None = None  # (name, message)
    wake_at: float | None = None
    waiting_for: list[str] = field(default_factory=list)
    started_at: float | None = None
    # A final run's journal as the history store keeps it (a shared host sends it,
    # so that folding the instance does not read its file again).
    history: str | None = None


@dataclass(frozen=True)
class RunRequest:
    """Start (or re-attach to) the run of one generation of an instance."""

    generation: int
    params: str | None  # JSON text
    created_at: float
    keep_before: str | None = None  # a restart from this step key keeps the steps before it
    schedule: str | None = None  # a cron fire's {"cron", "scheduledTime"} (JSON text)
    rollback: bool = False  # a terminate with rollback: run the handlers, then terminated


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
    version_id: str | None = None  # the version the instance started on (kept in its journal)
    # The instance started on other code than ``spec``'s: replay-check its journal first.
    check_replay: bool = False
    on_divergence: str = "error"  # or "pause" (see config.ON_DIVERGENCE)
    # Pre-activated ahead of its alarm (a shared host): a wait that ends by then is
    # slept live in the host, not hibernated (runtime/supervisor/preactivation.py).
    live_until: float | None = None


__all__ = ["InstanceOutcome", "InstanceSetup", "OutcomeKind", "RunRequest"]
