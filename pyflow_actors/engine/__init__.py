"""The replay engine: pure Python, no Ray. See :mod:`.replay`."""

from .records import (
    AttemptRecord,
    EventRecord,
    Journal,
    MemoryJournal,
    OutcomeKind,
    RunResult,
    StepRecord,
)
from .replay import Execution, Outcome, ReplayStep, StepCallable
from .step_config import StepConfig

__all__ = [
    "AttemptRecord",
    "EventRecord",
    "Execution",
    "Journal",
    "MemoryJournal",
    "Outcome",
    "OutcomeKind",
    "ReplayStep",
    "RunResult",
    "StepCallable",
    "StepConfig",
    "StepRecord",
]
