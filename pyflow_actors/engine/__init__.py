"""The replay engine: pure Python, no Ray. :mod:`.replay` maps its modules."""

from .execution import Execution
from .records import (
    AttemptRecord,
    EventRecord,
    Journal,
    MemoryJournal,
    Outcome,
    OutcomeKind,
    RunResult,
    StepRecord,
)
from .step import ReplayStep, StepCallable
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
