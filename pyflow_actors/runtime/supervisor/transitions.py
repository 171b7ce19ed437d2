"""Transitions: the one place that moves an instance from one status to another.

Every status change of a row happens here, keeping the row, the ready queue
and the alarms in step: queue (new or resuming), wait (armed alarm, or woken
at once if its event is already in), pause, finish. It also decides what an
ended actor run means for the row (:meth:`Transitions.after_run`): final,
hibernating, paused, crashed (rehydrate, or give up after too many crashes in
a row), or blocked on storage (retry with back-off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...engine.clock import SYSTEM_CLOCK
from ...models import InstanceStatus
from ...storage.registry import InstanceRow
from ..protocol import InstanceOutcome, OutcomeKind
from .alarms import Alarms
from .inbox import Inbox
from .scheduler import RESUMING, Scheduler
from .table import InstanceTable, Key

log = logging.getLogger("pyflow.supervisor")

MAX_CONSECUTIVE_CRASHES = 25
STORAGE_RETRY_SECONDS = (1.0, 30.0)  # back-off while the storage refuses writes


class Transitions:
    def __init__(
        self,
        table: InstanceTable,
        scheduler: Scheduler,
        alarms: Alarms,
        inbox: Inbox,
        clock: Callable[[], float] = SYSTEM_CLOCK.now,  # wake times are on it
    ) -> None:
        self.table, self.scheduler, self.alarms, self.inbox = table, scheduler, alarms, inbox
        self.clock = clock
        self._storage_delay: dict[Key, float] = {}

    def queue(self, row: InstanceRow, *, priority: int = RESUMING, keep_seq: bool = False) -> None:
        """Put the row in the ready queue (a new place in line unless ``keep_seq``)."""
        row.priority = priority
        if not keep_seq:
            row.queue_seq = self.table.next_seq()
        self.table.set_status(row, InstanceStatus.QUEUED)
        self.scheduler.push(row)

    def queue_all(self, rows: list[InstanceRow]) -> None:
        """Queue many rows (woken by their alarms), one registry commit for them all."""
        with self.table.batch():
            for row in rows:
                self.queue(row)

    def start(self, row: InstanceRow) -> None:
        """An admitted run starts: its journal knows its waits, the row none (a row
        that runs with a wake time is one held until it: see :meth:`hold`)."""
        row.started_at = row.started_at or self.clock()
        row.wake_at, row.waiting_for = None, []
        self.table.set_status(row, InstanceStatus.RUNNING)

    def hold(self, row: InstanceRow) -> None:
        """A waiting row's run starts ahead of its alarm, to be held live by its host
        until it (shared pre-activation): running, and keeping its wake time, so that
        a restarted supervisor knows it is held (it shows waiting until then)."""
        row.started_at = row.started_at or self.clock()
        self.table.set_status(row, InstanceStatus.RUNNING)

    def wait(self, row: InstanceRow, wake_at: float | None, waiting_for: list[str]) -> bool:
        """The row waits for its alarm or one of its events; True: queued at once
        (one of its events is already in)."""
        row.wake_at, row.waiting_for = wake_at, list(waiting_for)
        self.table.set_status(row, InstanceStatus.WAITING)
        self.alarms.arm(row)
        if self.inbox.waited_for(row):
            self.queue(row)
            return True
        return False

    def wake_if_due(self, row: InstanceRow) -> None:
        """A waiting row whose alarm passed or whose event is in goes in line."""
        if self.inbox.waited_for(row) or (row.wake_at or 0) <= self.clock():
            self.queue(row)

    def pause(self, row: InstanceRow, origin: InstanceStatus) -> None:
        row.paused_from = origin
        self.table.set_status(row, InstanceStatus.PAUSED)

    def finish(self, row: InstanceRow, outcome: InstanceOutcome) -> None:
        row.output = outcome.output
        row.error_name, row.error_message = outcome.error or (None, None)
        row.ended_at = self.clock()
        row.wake_at, row.waiting_for = None, []
        status = outcome.kind.final_status
        assert status is not None, f"{outcome.kind} is not a final outcome"
        self.table.set_status(row, status)

    def fail(self, row: InstanceRow, name: str, message: str) -> None:
        self.finish(row, InstanceOutcome(OutcomeKind.ERRORED, error=(name, message)))

    def after_run(self, row: InstanceRow, outcome: InstanceOutcome | None) -> None:
        """Apply how an actor's run ended (``None``: its process died)."""
        if outcome is None:
            self._after_crash(row)
            return
        if outcome.kind == OutcomeKind.STORAGE:
            self._after_storage_refusal(row)
            return
        self._storage_delay.pop(row.key, None)
        row.crashes = 0
        if outcome.started_at and not row.started_at:
            row.started_at = outcome.started_at
        if outcome.kind.is_final:
            self.finish(row, outcome)
        elif outcome.kind == OutcomeKind.HIBERNATE:
            self.wait(row, outcome.wake_at, outcome.waiting_for)
        elif outcome.kind == OutcomeKind.PAUSED:
            if outcome.error is not None:  # its journal does not fit the code: the operator's call
                row.error_name, row.error_message = outcome.error
                self.pause(row, InstanceStatus.RUNNING)
            elif row.status == InstanceStatus.WAITING_FOR_PAUSE:
                self.pause(row, InstanceStatus.RUNNING)
            else:  # resumed while the actor was pausing: it goes on
                self.queue(row)
        else:  # cancelled without a command (should not happen): run it again
            self.queue(row)

    def _after_crash(self, row: InstanceRow) -> None:
        row.crashes += 1
        if row.crashes > MAX_CONSECUTIVE_CRASHES:
            self.fail(
                row, "InstanceCrashed", f"the instance's process died {row.crashes} times in a row"
            )
        elif row.status == InstanceStatus.WAITING_FOR_PAUSE:
            self.pause(row, InstanceStatus.RUNNING)
        else:
            self.queue(row)

    def _after_storage_refusal(self, row: InstanceRow) -> None:
        # The journal could not be written (storage full or read-only). The
        # instance is fine: it waits, and runs again (replaying its journal)
        # after a back-off, until the storage takes writes again.
        low, high = STORAGE_RETRY_SECONDS
        delay = min(self._storage_delay.get(row.key, low / 2) * 2, high)
        self._storage_delay[row.key] = delay
        log.warning("instance %s/%s: storage unavailable, retry in %.0fs", *row.key, delay)
        row.wake_at, row.waiting_for = self.clock() + delay, []
        self.table.set_status(row, InstanceStatus.WAITING)
        self.alarms.arm(row)
