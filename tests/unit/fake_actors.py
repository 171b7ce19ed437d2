"""A fake of the supervisor's actor backend: instance actors without Ray.

The supervisor's logic (scheduling, alarms, events, control, recovery) runs
against it in milliseconds. Each :class:`FakeActor` runs until the test says
how its run ends (``finish``, ``hibernate``, ``die``...), records every call
the supervisor makes on it, and checks the rule that matters most: never two
live actors for one instance.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pyflow_actors.engine import EventRecord
from pyflow_actors.engine.waits import WaitSummary
from pyflow_actors.errors import InstanceActorGone
from pyflow_actors.models import StepInfo
from pyflow_actors.runtime.protocol import (
    InstanceOutcome,
    InstanceSetup,
    OutcomeKind,
    RunRequest,
)

Key = tuple[str, str]


class FakeActor:
    def __init__(self, setup: InstanceSetup, backend: FakeBackend) -> None:
        self.setup, self.backend = setup, backend
        self.key: Key = (setup.workflow, setup.instance_id)
        self.calls: list[str] = []
        self.delivered: list[EventRecord] = []
        self.accepting = True
        self.killed = False
        self.opened = asyncio.Event()  # set when "the journal is open" (describe waits)
        self.describing = 0
        self.most_describing = 0
        self.blocked = 0  # calls waiting for the journal to open (each holds a slot)
        self.most_blocked = 0
        self.steps: list[StepInfo] = []  # what describe answers
        self.requests: list[RunRequest] = []
        self.wait: WaitSummary | None = None  # what its run waits for (``waits``)
        self.wait_reports = 0
        self._outcome: asyncio.Future[InstanceOutcome] = asyncio.get_running_loop().create_future()

    # -- what the supervisor calls ------------------------------------------

    async def prepare(self) -> None:
        self._alive()
        self.calls.append("prepare")

    async def run(self, request: RunRequest) -> InstanceOutcome:
        self.calls.append(f"run:{request.generation}")
        self.requests.append(request)
        return await asyncio.shield(self._outcome)

    async def deliver(self, events: list[EventRecord]) -> bool:
        self._alive()
        await self._until_opened()
        if not self.accepting:
            return False
        self.delivered.extend(events)
        return True

    async def pause(self) -> None:
        self._alive()
        self.calls.append("pause")

    async def unpause(self) -> None:
        self._alive()
        self.calls.append("unpause")

    async def terminate(self, rollback: bool = False) -> None:
        self._alive()
        self.calls.append("terminate with rollback" if rollback else "terminate")
        self._end(InstanceOutcome(OutcomeKind.TERMINATED))

    async def cancel(self) -> None:
        self._alive()
        self.calls.append("cancel")
        self._end(InstanceOutcome(OutcomeKind.CANCELLED))

    async def describe(self) -> list[StepInfo]:
        self._alive()
        self.describing += 1
        self.most_describing = max(self.most_describing, self.describing)
        try:
            await self._until_opened()
        finally:
            self.describing -= 1
        return list(self.steps)

    async def _until_opened(self) -> None:
        self.blocked += 1
        self.most_blocked = max(self.most_blocked, self.blocked)
        try:
            await self.opened.wait()
        finally:
            self.blocked -= 1

    async def pid(self) -> int:
        return id(self)

    async def current_wait(self) -> tuple[int, int, WaitSummary | None]:
        self._alive()
        generation = self.requests[-1].generation if self.requests else 0
        return generation, self.wait_reports, self.wait

    def kill(self) -> None:
        self.killed = True
        if not self._outcome.done():
            self._outcome.set_exception(InstanceActorGone("killed"))
            self._outcome.exception()  # retrieved: a run awaiting it still gets it

    # -- what the test does -------------------------------------------------

    def open(self) -> None:
        self.opened.set()

    def finish(self, kind: OutcomeKind = OutcomeKind.COMPLETE, **fields: Any) -> None:
        self._end(InstanceOutcome(kind, **fields))

    def hibernate(self, wake_at: float | None = None, waiting_for: list[str] | None = None) -> None:
        self.accepting = False
        self._end(
            InstanceOutcome(OutcomeKind.HIBERNATE, wake_at=wake_at, waiting_for=waiting_for or [])
        )

    def waits(self, wait: WaitSummary | None) -> None:
        """Its run waits in the process (or works again: ``None``); a notice the
        supervisor was not there to take."""
        self.wait, self.wait_reports = wait, self.wait_reports + 1

    def die(self) -> None:
        self.killed = True
        if not self._outcome.done():
            self._outcome.set_exception(InstanceActorGone("process died"))
            self._outcome.exception()

    def _end(self, outcome: InstanceOutcome) -> None:
        if not self._outcome.done():
            self._outcome.set_result(outcome)

    def _alive(self) -> None:
        if self.killed:
            raise InstanceActorGone("dead")


class FakeBackend:
    """Creates :class:`FakeActor` s; ``gate`` holds creations (a slow actor start)."""

    def __init__(self) -> None:
        self.created: list[FakeActor] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def create(self, setup: InstanceSetup) -> FakeActor:
        await self.gate.wait()
        actor = FakeActor(setup, self)
        assert self.alive(actor.key) is None, f"two live actors for {actor.key}"
        self.created.append(actor)
        return actor

    def find(self, workflow: str, instance_id: str) -> FakeActor | None:
        return self.alive((workflow, instance_id))

    def alive(self, key: Key) -> FakeActor | None:
        return next((a for a in self.created if a.key == key and not a.killed), None)

    def actors_of(self, key: Key) -> list[FakeActor]:
        return [a for a in self.created if a.key == key]
