"""The replay engine: pure Python, no Ray. See :mod:`.replay`."""

from .records import AttemptRecord, EventRecord, Journal, MemoryJournal, RunResult, StepRecord
from .replay import Execution, Outcome, StepCallable, StepConfig, WorkflowStep

__all__ = [
    "AttemptRecord",
    "EventRecord",
    "Execution",
    "Journal",
    "MemoryJournal",
    "Outcome",
    "RunResult",
    "StepCallable",
    "StepConfig",
    "StepRecord",
    "WorkflowStep",
]
