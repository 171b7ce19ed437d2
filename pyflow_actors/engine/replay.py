"""The replay engine's front door: the names other modules import from ``engine.replay``.

Pure Python and asyncio, no Ray. The same engine runs inside an instance actor
and in unit tests (with :class:`~pyflow_actors.engine.records.MemoryJournal`).
It lives in one module per concern; this one only re-exports them:

* :mod:`.execution`: :class:`Execution` (one run against its journal: the
  driver, pause and cancel, replay, the retry loop, sleeps and event waits)
  and the :class:`Outcome` it returns.
* :mod:`.step`: :class:`ReplayStep`, the ``step`` handed to ``run()``, and
  :class:`StepCallable`, what ``step.do`` returns.
* :mod:`.step_config`: :class:`StepConfig`, a step's retry and timeout policy.
* :mod:`.attempts`: one attempt of a step's code, under its timeout.
* :mod:`.waits`: what a run waits on, and events matched to waits.
* :mod:`.step_context`, :mod:`.clock`, :mod:`.records`: the ``ctx`` of a step,
  time, and the journal interface.
"""

from __future__ import annotations

from .execution import Execution
from .records import Outcome
from .step import ReplayStep, StepCallable
from .step_config import StepConfig

__all__ = ["Execution", "Outcome", "ReplayStep", "StepCallable", "StepConfig"]
