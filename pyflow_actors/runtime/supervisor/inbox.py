"""The inbox: events accepted for instances and not yet in their journals.

Owns the accepted events (in memory and in the registry's inbox table) and
their delivery. An event is durable here before ``send_event`` answers; it
leaves when the instance's actor has journaled it (the journal dedups by
event id, so a delivery repeated after a crash is harmless).

One delivery in flight per instance; events that arrive meanwhile go with the
next one. Many concurrent deliver calls to an actor that is still starting
would fill its concurrency slots (each waits for the journal to open) and leave
none for ``run()``, which opens it: a deadlock a flood of events during an
actor start ran into.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ...engine import EventRecord
from ...errors import InstanceActorGone, StorageUnavailable
from ...storage.registry import InboxEvent, InstanceRow, Registry
from .table import Key
from .wrapper import InstanceActorHandle

log = logging.getLogger("pyflow.supervisor")


class Inbox:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.events: dict[Key, list[InboxEvent]] = {}
        for event in registry.inbox():
            self.events.setdefault((event.workflow, event.id), []).append(event)
        self._pushing: set[Key] = set()
        self._again: set[Key] = set()
        # Told when a push to an instance is over (start_order.py waits for it).
        self.on_delivered: Callable[[Key], None] = lambda key: None

    def accept(self, event: InboxEvent) -> bool:
        """Record an event (durable first); False: a retry of one already here."""
        key = (event.workflow, event.id)
        if any(e.event_id == event.event_id for e in self.events.get(key, ())):
            return False
        self.registry.add_event(event)
        self.events.setdefault(key, []).append(event)
        return True

    def has_any(self, key: Key) -> bool:
        return bool(self.events.get(key))

    def waited_for(self, row: InstanceRow) -> bool:
        """True if an event the waiting row waits for is here."""
        return any(e.type in row.waiting_for for e in self.events.get(row.key, ()))

    def drop(self, key: Key) -> None:
        """Forget an instance's events (terminated or restarted)."""
        self.events.pop(key, None)
        with contextlib.suppress(StorageUnavailable):  # stale inbox rows are harmless
            self.registry.drop_events_of(*key)

    def forget_workflow(self, workflow: str) -> None:
        for key in [k for k in self.events if k[0] == workflow]:
            del self.events[key]

    def push(self, key: Key, actor: Callable[[], InstanceActorHandle | None]) -> None:
        """Deliver the instance's events to its live actor (``actor()``), in the background."""
        if key in self._pushing:
            self._again.add(key)
            return
        self._pushing.add(key)
        asyncio.ensure_future(self._push_until_done(key, actor))

    async def _push_until_done(
        self, key: Key, actor: Callable[[], InstanceActorHandle | None]
    ) -> None:
        try:
            while True:
                self._again.discard(key)
                handle = actor()
                if handle is not None:
                    await self._deliver(key, handle)
                if key not in self._again:
                    return
        finally:
            self._pushing.discard(key)
            self.on_delivered(key)

    async def _deliver(self, key: Key, handle: InstanceActorHandle) -> None:
        events = list(self.events.get(key, ()))
        if not events:
            return
        records = [EventRecord(e.event_id, e.type, e.payload, e.received_at) for e in events]
        try:
            accepted = await handle.deliver(records)
        except InstanceActorGone:
            return  # the events stay here; the next actor gets them
        except Exception:  # noqa: BLE001 - e.g. its journal refused the write: keep them
            log.warning("delivering events to %s/%s failed; kept for later", *key, exc_info=True)
            return
        if not accepted:
            return
        ids = {e.event_id for e in events}
        with contextlib.suppress(StorageUnavailable):  # redelivered later: the journal dedups
            self.registry.remove_events(list(ids))
        remaining = [e for e in self.events.get(key, ()) if e.event_id not in ids]
        if remaining:
            self.events[key] = remaining
        else:
            self.events.pop(key, None)
