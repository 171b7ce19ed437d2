"""Control commands on one instance: pause, resume, terminate, restart.

Each command reads the row's status and acts on the live actor (through
:class:`InstanceActors`) or on the row alone when the instance has no process
(queued, waiting, paused). Status changes go through :class:`Transitions`.

A command carries a request id (the Ray transport fixes one per user call and
sends it with every send of that call). It is set on the row just before the
row write that applies the command, with no ``await`` in between, so that one
registry write commits both: the same command sent again across a supervisor
restart finds it exactly when the first send took effect, and is answered with
the current status instead of being applied twice (a second restart, a 409).
A send that arrives while an earlier send of the same call is still being
applied (Ray reported the supervisor unreachable, not dead) waits for it first.
A caller's ``Idempotency-Key`` makes the id (``pyflow_actors/idempotency.py``):
one key sent with another call on the instance is refused (409).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from ...errors import InstanceActorGone, InvalidTransition, StepNotFound, ValidationError
from ...idempotency import refuse_key_reuse, request_scope
from ...models import FINAL_STATUSES, InstanceDetail, InstanceStatus, RestartFrom, StepInfo
from ...storage.registry import InstanceRow
from ..protocol import InstanceOutcome, OutcomeKind
from .actors import InstanceActors
from .admission import Admission
from .history import HistoryFolding
from .inbox import Inbox
from .table import InstanceTable
from .transitions import Transitions


class Action(str, Enum):
    PAUSE = "pause"
    RESUME = "resume"
    TERMINATE = "terminate"
    RESTART = "restart"

    @classmethod
    def parse(cls, action: str) -> Action:
        try:
            return cls(action)
        except ValueError:
            raise ValidationError(
                f"action {action!r} is invalid: use pause, resume, terminate or restart"
            ) from None


class Control:
    def __init__(
        self,
        table: InstanceTable,
        transitions: Transitions,
        actors: InstanceActors,
        inbox: Inbox,
        admission: Admission,
        current_version: Callable[[str], str | None] = lambda workflow: None,
        history: HistoryFolding | None = None,
    ) -> None:
        self.table, self.transitions, self.actors = table, transitions, actors
        self.inbox, self.admission = inbox, admission
        self.current_version, self.history = current_version, history
        self.applying: dict[str, asyncio.Future[None]] = {}  # request scope -> its end

    @staticmethod
    def applied_before(row: InstanceRow, request_id: str | None) -> bool:
        """True when ``request_id`` is that of the last command applied to ``row``: the
        same call sent again (its first send took effect, its answer was lost)."""
        refuse_key_reuse(row.control_request_id, request_id)
        return request_id is not None and row.control_request_id == request_id

    async def apply(
        self,
        row: InstanceRow,
        action: Action,
        keep_before: str | None = None,
        rollback: bool = False,
        request_id: str | None = None,
    ) -> None:
        """Apply ``action``; ``keep_before``: the step key a restart starts again from;
        ``rollback``: a terminate runs the rollback handlers first; ``request_id``:
        recorded with the change (see :meth:`applied_before`)."""
        if rollback and action != Action.TERMINATE:
            raise ValidationError(f"'rollback' is only for a terminate, not for {action.value}")
        self.table.refuse_while_unwritable()
        if request_id is None:
            await self._apply(row, action, keep_before, rollback, None)
            return
        scope = request_scope(request_id)  # one key's sends wait for each other
        while (earlier := self.applying.get(scope)) is not None:
            await earlier  # the same call, sent again while its first send is applied
        if self.applied_before(row, request_id):
            return
        ended = self.applying[scope] = asyncio.get_running_loop().create_future()
        try:
            await self._apply(row, action, keep_before, rollback, request_id)
        finally:
            del self.applying[scope]
            ended.set_result(None)

    async def _apply(
        self,
        row: InstanceRow,
        action: Action,
        keep_before: str | None,
        rollback: bool,
        request_id: str | None,
    ) -> None:
        if action == Action.RESTART:
            await self.restart(row, keep_before, request_id)
        elif action == Action.TERMINATE:
            await self.terminate(row, rollback, request_id)
        elif action == Action.PAUSE:
            await self.pause(row, request_id)
        else:
            await self.resume(row, request_id)

    async def pause(self, row: InstanceRow, request_id: str | None = None) -> None:
        if row.status in FINAL_STATUSES:
            raise InvalidTransition(f"instance {row.id!r} is {row.status}: it cannot be paused")
        if row.status in (InstanceStatus.PAUSED, InstanceStatus.WAITING_FOR_PAUSE):
            return
        row.control_request_id = request_id  # written by the status change below
        live = self.actors.live.get(row.key)
        if live is None:  # queued or waiting: held where it is
            self.transitions.pause(row, row.status)
            return
        self.table.set_status(row, InstanceStatus.WAITING_FOR_PAUSE)
        live.pause_requested = True  # an actor still being created pauses when up
        if live.handle is not None:
            with contextlib.suppress(InstanceActorGone):  # its monitor handles a death
                await live.handle.pause()

    async def resume(self, row: InstanceRow, request_id: str | None = None) -> None:
        if row.status == InstanceStatus.WAITING_FOR_PAUSE:
            row.control_request_id = request_id
            self.table.set_status(row, InstanceStatus.RUNNING)
            live = self.actors.live.get(row.key)
            if live is not None:
                live.pause_requested = False
                if live.handle is not None:
                    with contextlib.suppress(InstanceActorGone):
                        await live.handle.unpause()
            return
        if row.status != InstanceStatus.PAUSED:
            return  # resuming an instance that is not paused does nothing
        row.control_request_id = request_id
        origin, row.paused_from = row.paused_from, None
        if origin == InstanceStatus.QUEUED:
            self.transitions.queue(row, priority=row.priority, keep_seq=True)
        elif origin == InstanceStatus.WAITING:
            if not self.transitions.wait(row, row.wake_at, row.waiting_for):
                self.transitions.wake_if_due(row)
        else:
            self.transitions.queue(row)

    async def terminate(
        self, row: InstanceRow, rollback: bool = False, request_id: str | None = None
    ) -> None:
        if row.status in FINAL_STATUSES:
            raise InvalidTransition(
                f"instance {row.id!r} is already {row.status}: it cannot be terminated"
            )
        if rollback:
            await self._terminate_with_rollback(row, request_id)
            return
        outcome = await self.actors.stop(row.key, "terminate") if row.key in self.actors else None
        if outcome is not None and outcome.kind in (OutcomeKind.COMPLETE, OutcomeKind.ERRORED):
            self.transitions.finish(row, outcome)  # it ended before the terminate reached it
            raise InvalidTransition(
                f"instance {row.id!r} is already {row.status}: it cannot be terminated"
            )
        row.terminated_by, row.control_request_id = "api", request_id
        self.transitions.finish(row, InstanceOutcome(OutcomeKind.TERMINATED))
        self.inbox.drop(row.key)

    async def _terminate_with_rollback(self, row: InstanceRow, request_id: str | None) -> None:
        """Run the handlers of its finished steps, then terminated: the live actor is
        told (its run goes on with them); an instance without one is queued to run
        them. Recorded on the row, so that a crash or a restarted supervisor goes on."""
        row.rollback_requested, row.terminated_by = True, "api"
        row.control_request_id = request_id
        self.inbox.drop(row.key)  # no wait will take an event any more
        live = self.actors.live.get(row.key)
        if live is None:
            row.paused_from = None
            self.transitions.queue(row)
            return
        self.table.save(row)
        live.rolling_back, live.pause_requested = True, False
        if live.handle is not None:  # else told as soon as it is up (InstanceActors)
            with contextlib.suppress(InstanceActorGone):  # its monitor handles a death
                await live.handle.terminate(rollback=True)

    async def restart(
        self, row: InstanceRow, keep_before: str | None = None, request_id: str | None = None
    ) -> None:
        """A new generation; with ``keep_before`` (a step key) the runner keeps
        the steps begun before it (see ``DuckJournal.reset``)."""
        self.admission.take_restart()
        if row.key in self.actors:
            await self.actors.stop(row.key, "cancel")
        if self.history is not None:  # a folded journal comes back for the new generation
            await self.history.unfold(row)
        if row.error_name == "JournalCorrupt":
            path = self.table.journal_path(row)
            with contextlib.suppress(OSError):  # kept aside for a post-mortem
                path.rename(path.with_name(f"{path.name}.corrupt-{int(time.time())}"))
        row.generation, row.control_request_id = row.generation + 1, request_id
        row.version_id = self.current_version(row.workflow) or row.version_id  # to current code
        row.started_at = row.ended_at = row.wake_at = None
        row.output = row.error_name = row.error_message = row.terminated_by = None
        row.paused_from, row.waiting_for, row.crashes = None, [], 0
        row.restart_from, row.rollback_requested = keep_before, False
        self.inbox.drop(row.key)
        self.transitions.queue(row)


async def restart_point(
    action: Action,
    restart_from: dict[str, Any] | None,
    row: InstanceRow,
    describe: Callable[[str, str], Awaitable[InstanceDetail]],
) -> str | None:
    """The step key a restart ``from`` a step starts again from (None: from the start);
    ``describe``: the supervisor's, for the instance's steps."""
    if restart_from is None:
        return None
    target = parse_restart_from(action, restart_from)
    steps = (await describe(row.workflow, row.id)).steps
    return restart_step_key(steps, target, row.id)


def restart_step_key(steps: list[StepInfo], target: RestartFrom, instance_id: str) -> str:
    """The journal key of the step ``target`` names; :class:`StepNotFound` when the
    instance's history has no such step (a 404 that lists the steps it has)."""
    key, kind = target.step_key, target.journal_kind
    if any(s.name == key and s.type == kind for s in steps):
        return key
    have = ", ".join(f"{s.type}:{s.name}" for s in steps) or "none"
    raise StepNotFound(
        f"instance {instance_id!r} has no {target.type} step named {target.name!r} "
        f"(occurrence {target.count}) to restart from: its steps are {have}"
    )


def parse_restart_from(action: Action, value: dict[str, Any]) -> RestartFrom:
    """``from`` of a status edit, validated: only a restart takes one."""
    if action != Action.RESTART:
        raise ValidationError(f"'from' is only for a restart, not for {action.value}")
    try:
        return RestartFrom.model_validate(value)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValidationError(
            f'\'from\' is invalid ({problems}): use {{"name": str, "count": int >= 1, '
            f'"type": "do" | "sleep" | "waitForEvent"}}'
        ) from None
