"""Rollbacks (sagas): running the rollback handlers of an instance's steps, durably.

When ``run()`` fails (an error reaches its top level), or a terminate asks
for a rollback, the handlers registered on the steps of this run (see
:mod:`.rollback_handlers`) run before the instance settles:

* which: each ``step.do`` with a handler that completed, and one that failed
  (its handler gets ``output=None``); steps still running never started
  anything to undo;
* order: last started first (LIFO by the step's start, not its end);
* each handler run is journaled like a step, kind ``rollback``, under the key
  ``rollback:<name>-<count>`` (shown as ``<name>-<count>``), with its attempts,
  retries and timeout from ``rollback_config``, and one commit when it ends. A
  run that starts again (the process was killed, or it hibernated during a
  handler's retry delay) replays ``run()``, fails the same way, and goes on
  with the first handler the journal has not finished: a finished handler never
  runs again;
* the first handler that gives up (retries exhausted, ``NonRetryableError``)
  halts the chain: the rollback's outcome is ``failed``.

Handlers are code, not data: a terminate with rollback replays ``run()``
against the journal (:func:`roll_back_terminated`; no new step runs: the first
step that would do new work waits forever and the replay stops there) to
register them again, then runs them with a ``Terminated`` error. Handler runs do
not count toward the instance's step limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .. import serialization
from ..errors import describe_exception, rebuild_error
from .records import Outcome, OutcomeKind, StepKind, StepRecord
from .rollback_handlers import ROLLBACK_KEY_PREFIX, Registered, handler_call
from .step import ReplayStep, StepCallable
from .step_context import StepContext, occurrence, step_context

# The error a terminate with rollback hands the handlers (as Cloudflare's engine does).
TERMINATED_ERROR = ("Terminated", "Instance terminated during rollback")


@dataclass(frozen=True)
class RollbackResult:
    """How a rollback ended: every eligible handler succeeded, or one gave up."""

    outcome: Literal["complete", "failed"]
    error: tuple[str, str] | None = None


class RollbackExecution(Protocol):
    """What a rollback needs of the run it belongs to (``Execution`` has it)."""

    step: ReplayStep
    replay_only: bool
    on_rollback: Callable[[], None] | None

    @property
    def journal_steps(self) -> Mapping[str, StepRecord]: ...

    @property
    def cancelled(self) -> bool: ...

    async def execute_step(
        self,
        key: str,
        step: StepCallable,
        args: list[Any],
        record: StepRecord | None,
        kind: StepKind = "step",
    ) -> Any: ...

    async def run(self, main: Coroutine[Any, Any, Outcome] | None = None) -> Outcome: ...


def rollback_key(registered: Registered) -> tuple[str, str]:
    """``(journal key, shown name)`` of a handler run: ``rollback:charge-1``, ``charge-1``."""
    label = f"{registered.name}-{occurrence(registered.name, registered.key)}"
    return ROLLBACK_KEY_PREFIX + label, label


def eligible(
    registered: list[Registered], steps: Mapping[str, StepRecord]
) -> list[tuple[Registered, StepRecord]]:
    """The handlers to run, last started step first: those of finished steps."""
    chosen: dict[str, tuple[Registered, StepRecord]] = {}
    for entry in registered:
        record = steps.get(entry.key)
        if record is not None and record.kind == "step" and record.state != "running":
            chosen[entry.key] = (entry, record)
    return sorted(chosen.values(), key=lambda pair: pair[1].seq, reverse=True)


async def roll_back(x: RollbackExecution, error: tuple[str, str]) -> RollbackResult | None:
    """Run the eligible handlers, LIFO, each journaled; ``None``: none to run."""
    handlers = eligible(x.step.rollbacks, x.journal_steps)
    if not handlers:
        return None
    if x.on_rollback is not None:
        x.on_rollback()
    for entry, forward in handlers:
        key, label = rollback_key(entry)
        record = x.journal_steps.get(key)
        if record is not None and record.state == "complete":
            continue  # ran before this process: never again
        if record is not None and record.state == "failed":
            return RollbackResult(
                "failed", (record.error_name or "Error", record.error_message or "")
            )
        offered = {
            "ctx": forward_context(entry, forward),
            "output": serialization.loads(forward.output) if forward.state == "complete" else None,
            "error": rebuild_error(*error),
        }
        handler = StepCallable(
            x.step, label, handler_call(entry.handler.fn, offered), (), False, entry.handler.config
        )
        try:
            await x.execute_step(key, handler, [], record, kind="rollback")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the handler gave up: the chain halts
            return RollbackResult("failed", describe_exception(exc))
    return RollbackResult("complete")


def forward_context(entry: Registered, forward: StepRecord) -> StepContext:
    """The forward step's ``ctx``, as its last attempt saw it."""
    config = serialization.loads(forward.config) if forward.config else {}
    attempt = forward.attempts[-1].n if forward.attempts else 1
    return step_context(entry.name, entry.key, attempt, config if isinstance(config, dict) else {})


async def roll_back_terminated(x: RollbackExecution) -> Outcome:
    """A terminate with rollback: replay ``run()`` to register the handlers (no new
    work), then run them. ``terminated`` when done; else how the run stopped
    (cancelled, or hibernating during a handler's retry delay)."""
    x.replay_only = True
    replay = await x.run()
    x.replay_only = False
    if x.cancelled:
        return replay  # cancelled from outside (a plain terminate, a restart)
    return await x.run(_terminated(x))


async def _terminated(x: RollbackExecution) -> Outcome:
    await roll_back(x, TERMINATED_ERROR)
    return Outcome(OutcomeKind.TERMINATED)
