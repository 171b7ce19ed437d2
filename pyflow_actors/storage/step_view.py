"""How a journal's step records read for a user: describe's and the step endpoint's view.

:func:`step_infos` turns the step records of a journal (or of a folded copy of
one in the history store) into :class:`~pyflow_actors.models.StepInfo`, in the
order the steps began; :func:`next_attempt_at` says when a step waiting to retry
tries again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..engine.records import StepRecord
from ..serialization import loads

if TYPE_CHECKING:
    from ..models import StepInfo


class StepSource(Protocol):
    """What :func:`step_infos` reads: a journal file, or a folded copy of one."""

    def steps(self) -> dict[str, StepRecord]: ...


def step_infos(journal: StepSource) -> list[StepInfo]:
    """The step history of a journal, in the order the steps began (for describe)."""
    # Imported here: the journal (on every instance actor's path) imports this
    # module, and the pydantic models are only needed when someone reads steps.
    from ..models import AttemptInfo, ErrorInfo, StepInfo

    infos = []
    for record in journal.steps().values():
        if record.kind == "patch":
            continue  # a step.patched marker, not a step
        error = (
            ErrorInfo(name=record.error_name, message=record.error_message or "")
            if record.error_name
            else None
        )
        attempts = [
            AttemptInfo(
                start=a.started_at,
                end=a.ended_at,
                success=None if a.ended_at is None else a.error_name is None,
                error=ErrorInfo(name=a.error_name, message=a.error_message or "")
                if a.error_name
                else None,
            )
            for a in record.attempts
        ]
        finished = record.state != "running"
        infos.append(
            StepInfo(
                type=record.kind,
                # A rollback handler's run shows as "<step name>-<count>" (its key has a prefix).
                name=record.name if record.kind == "rollback" else record.key,
                start=record.started_at,
                end=record.ended_at
                if finished
                else (record.wake_at if record.kind != "step" else None),
                finished=finished,
                success=None if not finished else record.state == "complete",
                output=loads(record.output) if record.output is not None else None,
                error=error,
                attempts=attempts,
                config=loads(record.config) if record.config else None,
                event_type=record.event_type,
                next_attempt_at=next_attempt_at(record),
            )
        )
    return infos


def next_attempt_at(record: StepRecord) -> float | None:
    """When a step waiting to retry tries again: the last failure's end plus its delay."""
    if record.kind not in ("step", "rollback") or record.state != "running" or not record.config:
        return None
    if not record.attempts or record.attempts[-1].ended_at is None:
        return None  # never started, or an attempt is in flight
    failures = [a for a in record.attempts if a.failed]
    if not failures or failures[-1] is not record.attempts[-1]:
        return None
    from ..engine.replay import StepConfig  # the one retry policy (delay, backoff)

    config = StepConfig.parse(loads(record.config))
    ended = failures[-1].ended_at or 0.0
    return ended + config.delay_before_retry(len(failures))
