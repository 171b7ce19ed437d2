"""The supervisor: one detached Ray actor that owns the control plane.

Modelled on Ray Serve's controller: it owns the control state (the registry),
reconciles desired against actual, and never does data-plane work itself.

* Creates instances (validated, rate- and queue-limited, written to the
  registry before it answers) and queues them.
* Starts instance actors while running slots are free: resuming instances
  (alarm fired, event arrived, recovery) before new ones, oldest first.
* Watches each instance actor; when one dies, rehydrates the instance.
* Fires alarms: rehydrates hibernated instances at their wake time.
* Routes events (recorded in the registry first) and control commands.
* On (re)start, reloads the registry, re-adopts live instance actors by name
  and re-arms alarms; after a whole-runtime restart every non-final instance
  continues where its journal says.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from ray import cloudpickle

from ..config import EngineConfig, WorkflowSpec
from ..errors import (
    ConfigError,
    CreationRateLimited,
    InstanceAlreadyExists,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidTransition,
    JournalCorrupt,
    JournalLocked,
    PyflowError,
    QueueFull,
    StorageUnavailable,
    ValidationError,
    WorkflowNotFound,
)
from ..limits import (
    validate_batch_size,
    validate_event_type,
    validate_instance_id,
    validate_payload,
)
from ..models import (
    CreateOptions,
    ErrorInfo,
    InstanceDetail,
    InstancePage,
    InstanceStatus,
    InstanceStatusInfo,
    StepInfo,
    WorkflowInfo,
)
from ..serialization import loads
from ..storage.journal import (
    DuckJournal,
    journal_path,
    remove_journal,
    step_infos,
)
from ..storage.registry import InboxEvent, InstanceRow, Registry
from .instance import InstanceActor, InstanceOutcome, InstanceSetup

log = logging.getLogger("pyflow.supervisor")

SUPERVISOR_NAME = "pyflow-supervisor"
FINAL = {"complete", "errored", "terminated"}
LIVE = {"running", "waitingForPause"}
MAX_CONSECUTIVE_CRASHES = 25
CONTROL_TIMEOUT = 15.0
STORAGE_RETRY_SECONDS = (1.0, 30.0)  # back-off while the storage refuses writes


def actor_name(workflow: str, instance_id: str) -> str:
    return f"wf/{workflow}/{instance_id}"


@dataclass
class _Live:
    handle: Any  # None while the actor is being created
    generation: int
    monitor: asyncio.Task | None = None
    pause_requested: bool = False


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self, n: int) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if n > self.tokens:
            return False
        self.tokens -= n
        return True


class Supervisor:
    def __init__(self, config: EngineConfig) -> None:
        self.registry = Registry(Path(config.storage))
        stored = self.registry.get_setting("config")
        self.config: EngineConfig = cloudpickle.loads(stored) if stored else config
        self.specs: dict[str, WorkflowSpec] = {}
        self.workflow_times: dict[str, tuple[float, float]] = {}
        for name, _binding, _cls, blob, created, modified in self.registry.workflows():
            try:
                self.specs[name] = cloudpickle.loads(blob)
            except Exception:  # noqa: BLE001 - a spec whose class is gone is re-registered on start
                log.exception("cannot load workflow %s", name)
                continue
            self.workflow_times[name] = (created, modified)
        for spec in self.config.workflows:
            self._register(spec)
        self.rows: dict[tuple[str, str], InstanceRow] = {
            r.key: r for r in self.registry.instances()
        }
        self.inbox: dict[tuple[str, str], list[InboxEvent]] = {}
        for event in self.registry.inbox():
            self.inbox.setdefault((event.workflow, event.id), []).append(event)
        self.counts: dict[tuple[str, str], int] = {}
        for row in self.rows.values():
            self._count(row.workflow, row.status, +1)
        self.live: dict[tuple[str, str], _Live] = {}
        self.ready: list[tuple[int, int, tuple[str, str]]] = []
        self.alarms: list[tuple[float, tuple[str, str]]] = []
        self._seq = max((r.queue_seq for r in self.rows.values()), default=0)
        self._bucket = _TokenBucket(self.config.creation_rate, self.config.creation_burst)
        self._unsaved: set[tuple[str, str]] = set()  # rows the registry could not take
        self._pushing: set[tuple[str, str]] = set()  # instances with a delivery in flight
        self._push_again: set[tuple[str, str]] = set()  # ...and more events since it began
        self._storage_delay: dict[tuple[str, str], float] = {}
        self._alarm_changed: asyncio.Event | None = None
        self._started: asyncio.Future | None = None
        self._background: list[asyncio.Task] = []
        # Start the loops and recovery as soon as the actor is up, without
        # waiting for a first client call (after a restart nobody calls).
        ray.get_runtime_context().current_actor.start.remote()

    # ------------------------------------------------------------------
    # start and recovery

    async def start(self) -> bool:
        if self._started is None:
            self._started = asyncio.ensure_future(self._recover())
        await asyncio.shield(self._started)
        return True

    async def _recover(self) -> None:
        self._alarm_changed = asyncio.Event()
        rebuilt = await asyncio.to_thread(self._rows_from_journals)
        if rebuilt:
            log.warning(
                "registry %s had no row for %d instance journal(s): rebuilt them from the journals",
                self.registry.path,
                len(rebuilt),
            )
            for row in rebuilt:
                self.rows[row.key] = row
                self._count(row.workflow, row.status, +1)
                self._save(row)
        now = time.time()
        for row in sorted(self.rows.values(), key=lambda r: r.queue_seq):
            if row.status in LIVE:
                handle = self._find_actor(row)
                if handle is not None:
                    self._adopt(row, handle)
                else:
                    self._enqueue(row, priority=0)
            elif row.status == "queued":
                heapq.heappush(self.ready, (row.priority, row.queue_seq, row.key))
            elif row.status == "waiting":
                self._arm(row)
                if self._events_waited_for(row) or (row.wake_at or 0) <= now:
                    self._enqueue(row, priority=0)
        self._background = [
            asyncio.ensure_future(self._alarm_loop()),
            asyncio.ensure_future(self._housekeeping_loop()),
            asyncio.ensure_future(self._flush_loop()),
        ]
        self._schedule()
        for key in list(self.live):
            self._spawn_push(key)

    def _rows_from_journals(self) -> list[InstanceRow]:
        """Rows for journals the registry does not know (registry lost, rows missing).

        The journal is the source of truth: a finished instance comes back with
        its result; any other comes back queued first in line, and replays its
        journal when it runs (a sleeper hibernates again until its alarm).
        """
        root = Path(self.config.storage) / "journals"
        if not root.is_dir():
            return []
        rows = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.glob("*.duckdb")):
                key = (folder.name, path.name[: -len(".duckdb")])
                if key not in self.rows:
                    row = self._row_from_journal(path, key)
                    if row is not None:
                        rows.append(row)
        return rows

    def _row_from_journal(self, path: Path, key: tuple[str, str]) -> InstanceRow | None:
        workflow, instance_id = key
        self._seq += 1
        row = InstanceRow(
            workflow, instance_id, "queued", None, path.stat().st_mtime, queue_seq=self._seq
        )
        row.priority = 0
        try:
            with DuckJournal(path, read_only=True) as journal:
                meta, result = journal.meta(), journal.result()
        except JournalLocked:
            row.status = "running"  # its actor is alive and holds it: adopt it
            return row
        except JournalCorrupt as exc:
            row.status, row.ended_at = "errored", time.time()
            row.error_name, row.error_message = "JournalCorrupt", str(exc)
            return row
        if meta.get("workflow") not in (None, workflow) or meta.get("instance_id") not in (
            None,
            instance_id,
        ):
            log.error("journal %s belongs to another instance: left alone", path)
            return None
        row.params = meta.get("params")
        row.created_at = float(meta.get("created_at") or row.created_at)
        row.started_at = float(meta["started_at"]) if meta.get("started_at") else None
        row.generation = int(meta.get("generation") or 1)
        if result is not None:
            row.status, row.output, row.ended_at = result.status, result.output, result.ended_at
            row.error_name, row.error_message = result.error_name, result.error_message
        return row

    def _find_actor(self, row: InstanceRow) -> Any | None:
        try:
            return ray.get_actor(actor_name(row.workflow, row.id), namespace=self.config.namespace)
        except ValueError:
            return None

    def _adopt(self, row: InstanceRow, handle: Any) -> None:
        live = _Live(handle, row.generation)
        self.live[row.key] = live
        live.monitor = asyncio.ensure_future(self._monitor(row.key, live))

    # ------------------------------------------------------------------
    # configuration and workflows

    async def configure(self, config: EngineConfig) -> bool:
        await self.start()
        if Path(config.storage).resolve() != Path(self.config.storage).resolve():
            raise ConfigError(
                f"the engine in this Ray cluster uses storage {self.config.storage}, "
                f"not {config.storage}: stop it first or use the same storage"
            )
        self.config = replace(config, workflows=self.config.workflows)
        for spec in config.workflows:
            self._register(spec)
        self.config = replace(self.config, workflows=tuple(self.specs.values()))
        self.registry.set_setting("config", cloudpickle.dumps(self.config))
        self._bucket = _TokenBucket(self.config.creation_rate, self.config.creation_burst)
        self._schedule()
        return True

    def _register(self, spec: WorkflowSpec) -> None:
        now = time.time()
        old = self.specs.get(spec.name)
        created = self.workflow_times.get(spec.name, (now, now))[0]
        modified = (
            now
            if old is None or old.class_name != spec.class_name
            else self.workflow_times[spec.name][1]
        )
        self.specs[spec.name] = spec
        self.workflow_times[spec.name] = (created, modified)
        self.registry.upsert_workflow(
            spec.name, spec.binding, spec.class_name, cloudpickle.dumps(spec), created, modified
        )

    def _spec(self, workflow: str) -> WorkflowSpec:
        """The workflow named ``workflow`` (its name, or else its binding name)."""
        spec = self.specs.get(workflow)
        if spec is None:
            spec = next((s for s in self.specs.values() if s.binding == workflow), None)
        if spec is None:
            raise WorkflowNotFound(f"workflow {workflow!r} does not exist")
        return spec

    async def list_workflows(self) -> list[WorkflowInfo]:
        await self.start()
        return [self._workflow_info(name) for name in sorted(self.specs)]

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        await self.start()
        return self._workflow_info(self._spec(workflow).name)

    def _workflow_info(self, name: str) -> WorkflowInfo:
        spec = self.specs[name]
        created, modified = self.workflow_times[name]
        counts = {s.value: self.counts.get((name, s.value), 0) for s in InstanceStatus}
        return WorkflowInfo(
            name=name,
            binding=spec.binding,
            class_name=spec.class_name,
            created_at=created,
            modified_at=modified,
            instances={k: v for k, v in counts.items() if v},
        )

    async def delete_workflow(self, workflow: str) -> None:
        await self.start()
        workflow = self._spec(workflow).name
        for key in [k for k in self.live if k[0] == workflow]:
            await self._stop_live(key, "terminate")
        for key in [k for k in self.rows if k[0] == workflow]:
            row = self.rows.pop(key)
            self._count(row.workflow, row.status, -1)
            self.inbox.pop(key, None)
        self.registry.delete_workflow(workflow)
        del self.specs[workflow]
        del self.workflow_times[workflow]
        self.config = replace(self.config, workflows=tuple(self.specs.values()))
        self.registry.set_setting("config", cloudpickle.dumps(self.config))
        shutil.rmtree(Path(self.config.storage) / "journals" / workflow, ignore_errors=True)

    # ------------------------------------------------------------------
    # create

    async def create(
        self,
        workflow: str,
        options: list[CreateOptions],
        batch: bool,
        request_id: str | None = None,
    ) -> list[InstanceStatusInfo]:
        await self.start()
        workflow = self._spec(workflow).name
        limits = self.config.limits
        if batch:
            validate_batch_size(len(options), limits)
        elif len(options) != 1:
            raise ValidationError("create takes exactly one instance; use create_batch for more")
        now = time.time()
        rows: list[InstanceRow] = []
        existing: list[InstanceRow] = []
        seen: set[str] = set()
        for option in options:
            instance_id = option.id if option.id is not None else str(uuid.uuid4())
            validate_instance_id(instance_id, limits)
            params = validate_payload(option.params, "params", limits)
            row = self.rows.get((workflow, instance_id))
            if row is not None or instance_id in seen:
                if row is not None and request_id and row.request_id == request_id:
                    existing.append(row)  # a retry of a create that already went through
                    continue
                if batch:
                    continue
                raise InstanceAlreadyExists(
                    f"instance {instance_id!r} already exists in workflow {workflow!r}: "
                    "use a new id, or restart the existing instance"
                )
            seen.add(instance_id)
            self._seq += 1
            rows.append(
                InstanceRow(
                    workflow=workflow,
                    id=instance_id,
                    status="queued",
                    params=params,
                    created_at=now,
                    queue_seq=self._seq,
                    request_id=request_id,
                )
            )
        if rows:
            queued = sum(v for (_, s), v in self.counts.items() if s == "queued")
            if queued + len(rows) > self.config.max_queued:
                raise QueueFull(
                    f"{queued} instances are queued: the limit is {self.config.max_queued}; "
                    "retry later"
                )
            if not self._bucket.take(len(rows)):
                raise CreationRateLimited(
                    f"creating instances faster than {self.config.creation_rate:g} per second; "
                    "retry later"
                )
            self.registry.insert(rows)  # durable before we answer
            for row in rows:
                self.rows[row.key] = row
                self._count(workflow, "queued", +1)
                heapq.heappush(self.ready, (row.priority, row.queue_seq, row.key))
            self._schedule()
        return [self._info(r) for r in existing + rows]

    # ------------------------------------------------------------------
    # reads (never wake an instance)

    def _row(self, workflow: str, instance_id: str) -> InstanceRow:
        workflow = self._spec(workflow).name
        row = self.rows.get((workflow, instance_id))
        if row is None:
            raise InstanceNotFound(
                f"instance {instance_id!r} does not exist in workflow {workflow!r}"
            )
        return row

    def _info(self, row: InstanceRow) -> InstanceStatusInfo:
        return InstanceStatusInfo(
            id=row.id,
            workflow=row.workflow,
            status=InstanceStatus(row.status),
            error=ErrorInfo(name=row.error_name, message=row.error_message or "")
            if row.error_name
            else None,
            output=loads(row.output) if row.output is not None else None,
            created_at=row.created_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            wake_at=row.wake_at if row.status == "waiting" else None,
            waiting_for=list(row.waiting_for) if row.status == "waiting" else [],
        )

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        await self.start()
        return self._info(self._row(workflow, instance_id))

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        await self.start()
        row = self._row(workflow, instance_id)
        steps: list[StepInfo] = []
        live = self.live.get(row.key)
        if live is not None and live.handle is not None:
            try:
                steps = await asyncio.wait_for(live.handle.describe.remote(), CONTROL_TIMEOUT)
            except Exception:  # noqa: BLE001 - the actor just went away: read its file
                live = None
        if live is None or live.handle is None:
            path = self._journal_path(row)
            try:
                steps = await asyncio.to_thread(_read_steps, path)
            except JournalCorrupt as exc:
                # The instance cannot go on from this journal: say so, serve the rest.
                if row.status not in FINAL and row.key not in self.live:
                    self._finish(
                        row, InstanceOutcome("errored", error=("JournalCorrupt", str(exc)))
                    )
                steps = []
        return InstanceDetail(
            status=self._info(row),
            params=loads(row.params),
            steps=steps,
            terminated_by=row.terminated_by,
        )

    async def list_instances(
        self,
        workflow: str,
        status: str | None = None,
        page: int = 1,
        per_page: int = 50,
        reverse: bool = False,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> InstancePage:
        await self.start()
        workflow = self._spec(workflow).name
        if status is not None and status not in InstanceStatus._value2member_map_:
            raise ValidationError(
                f"status {status!r} is invalid: use one of {', '.join(s.value for s in InstanceStatus)}"
            )
        if page < 1 or not 1 <= per_page <= 1000:
            raise ValidationError("page must be >= 1 and per_page between 1 and 1000")
        rows = [
            r
            for r in self.rows.values()
            if r.workflow == workflow
            and (status is None or r.status == status)
            and (created_after is None or r.created_at >= created_after)
            and (created_before is None or r.created_at <= created_before)
        ]
        rows.sort(key=lambda r: (r.created_at, r.queue_seq), reverse=not reverse)
        start = (page - 1) * per_page
        return InstancePage(
            instances=[self._info(r) for r in rows[start : start + per_page]],
            total=len(rows),
            page=page,
            per_page=per_page,
        )

    # ------------------------------------------------------------------
    # control

    async def control(self, workflow: str, instance_id: str, action: str) -> InstanceStatusInfo:
        await self.start()
        row = self._row(workflow, instance_id)
        handler = {
            "pause": self._pause,
            "resume": self._resume,
            "terminate": self._terminate,
            "restart": self._restart,
        }.get(action)
        if handler is None:
            raise ValidationError(
                f"action {action!r} is invalid: use pause, resume, terminate or restart"
            )
        await handler(row)
        self._schedule()
        return self._info(row)

    async def _pause(self, row: InstanceRow) -> None:
        if row.status in FINAL:
            raise InvalidTransition(f"instance {row.id!r} is {row.status}: it cannot be paused")
        if row.status in ("paused", "waitingForPause"):
            return
        live = self.live.get(row.key)
        if live is not None:
            self._set_status(row, "waitingForPause")
            live.pause_requested = True
            if live.handle is not None:
                await _call(live.handle.pause)
            return
        row.paused_from = row.status
        self._set_status(row, "paused")

    async def _resume(self, row: InstanceRow) -> None:
        if row.status == "waitingForPause":
            live = self.live.get(row.key)
            self._set_status(row, "running")
            if live is not None:
                live.pause_requested = False
                if live.handle is not None:
                    await _call(live.handle.unpause)
            return
        if row.status != "paused":
            return  # resuming an instance that is not paused does nothing
        origin, row.paused_from = row.paused_from, None
        if origin == "queued":
            self._enqueue(row, priority=row.priority, keep_seq=True)
        elif origin == "waiting":
            self._set_status(row, "waiting")
            self._arm(row)
            if self._events_waited_for(row) or (row.wake_at or 0) <= time.time():
                self._enqueue(row, priority=0)
        else:
            self._enqueue(row, priority=0)

    async def _terminate(self, row: InstanceRow) -> None:
        if row.status in FINAL:
            raise InvalidTransition(
                f"instance {row.id!r} is already {row.status}: it cannot be terminated"
            )
        outcome = None
        if row.key in self.live:
            outcome = await self._stop_live(row.key, "terminate")
        if outcome is not None and outcome.kind in ("complete", "errored"):
            self._finish(row, outcome)  # it ended before the terminate reached it
            raise InvalidTransition(
                f"instance {row.id!r} is already {row.status}: it cannot be terminated"
            )
        row.terminated_by = "api"
        self._finish(row, InstanceOutcome("terminated"))
        self.inbox.pop(row.key, None)
        with contextlib.suppress(StorageUnavailable):  # stale inbox rows are harmless
            self.registry.drop_events_of(*row.key)

    async def _restart(self, row: InstanceRow) -> None:
        if not self._bucket.take(1):
            raise CreationRateLimited("restarting instances faster than the creation rate allows")
        if row.key in self.live:
            await self._stop_live(row.key, "cancel")
        if row.error_name == "JournalCorrupt":
            path = self._journal_path(row)
            with contextlib.suppress(OSError):
                path.rename(path.with_name(f"{path.name}.corrupt-{int(time.time())}"))
        row.generation += 1
        row.started_at = row.ended_at = row.wake_at = None
        row.output = row.error_name = row.error_message = row.terminated_by = None
        row.paused_from, row.waiting_for, row.crashes = None, [], 0
        self.inbox.pop(row.key, None)
        with contextlib.suppress(StorageUnavailable):  # stale inbox rows are harmless
            self.registry.drop_events_of(*row.key)
        self._enqueue(row, priority=0)

    async def _stop_live(self, key: tuple[str, str], method: str) -> InstanceOutcome | None:
        """Stop a live actor via ``method`` (terminate or cancel), then let it go."""
        live = self.live.pop(key)
        outcome = None
        try:
            if live.handle is None:
                raise RuntimeError("not created yet")
            await asyncio.wait_for(getattr(live.handle, method).remote(), CONTROL_TIMEOUT)
            if live.monitor is not None:
                outcome = await asyncio.wait_for(asyncio.shield(live.monitor), 2.0)
        except Exception:  # noqa: BLE001 - dead or stuck: kill it below
            pass
        if live.monitor is not None:
            live.monitor.cancel()
        if live.handle is not None:
            _kill(live.handle)
        return outcome if isinstance(outcome, InstanceOutcome) else None

    # ------------------------------------------------------------------
    # events

    async def send_event(
        self,
        workflow: str,
        instance_id: str,
        event_type: str,
        payload: Any,
        event_id: str | None = None,
    ) -> None:
        """Accept an event (durable before the answer); ``event_id`` makes a retry a no-op."""
        await self.start()
        row = self._row(workflow, instance_id)
        limits = self.config.limits
        validate_event_type(event_type, limits)
        text = validate_payload(payload, "event payload", limits)
        if row.status in FINAL:
            raise InstanceNotAcceptingEvents(
                f"instance {instance_id!r} is {row.status}: it no longer accepts events"
            )
        event_id = event_id or str(uuid.uuid4())
        if any(e.event_id == event_id for e in self.inbox.get(row.key, ())):
            return  # a retry of a send that went through (not delivered yet)
        # A retry of a send already delivered is recorded again: the instance's
        # journal knows the id and ignores it, so it is still delivered once.
        event = InboxEvent(event_id, row.workflow, instance_id, event_type, text, time.time())
        self.registry.add_event(event)  # durable before we answer
        self.inbox.setdefault(row.key, []).append(event)
        if row.key in self.live:
            self._spawn_push(row.key)
        elif row.status == "waiting" and event_type in row.waiting_for:
            self._enqueue(row, priority=0)
            self._schedule()

    def _events_waited_for(self, row: InstanceRow) -> bool:
        return any(e.type in row.waiting_for for e in self.inbox.get(row.key, ()))

    def _spawn_push(self, key: tuple[str, str]) -> None:
        # One delivery in flight per instance; events that arrive meanwhile go
        # with the next one. Many concurrent deliver calls to an actor that is
        # still starting would fill its concurrency slots (each waits for the
        # journal to open) and leave none for run(), which opens it: a deadlock
        # that a flood of events during an actor start ran into.
        if key in self._pushing:
            self._push_again.add(key)
            return
        self._pushing.add(key)
        asyncio.ensure_future(self._push_until_done(key))

    async def _push_until_done(self, key: tuple[str, str]) -> None:
        try:
            while True:
                self._push_again.discard(key)
                await self._push_events(key)
                if key not in self._push_again:
                    return
        finally:
            self._pushing.discard(key)

    async def _push_events(self, key: tuple[str, str]) -> None:
        live = self.live.get(key)
        events = list(self.inbox.get(key, ()))
        if live is None or live.handle is None or not events:
            return
        payload = [
            {
                "event_id": e.event_id,
                "type": e.type,
                "payload": e.payload,
                "received_at": e.received_at,
            }
            for e in events
        ]
        try:
            accepted = await live.handle.deliver.remote(payload)
        except Exception:  # noqa: BLE001 - actor gone: events stay in the inbox
            return
        if accepted:
            ids = {e.event_id for e in events}
            with contextlib.suppress(StorageUnavailable):  # redelivered later: journal dedups
                self.registry.remove_events(list(ids))
            remaining = [e for e in self.inbox.get(key, ()) if e.event_id not in ids]
            if remaining:
                self.inbox[key] = remaining
            else:
                self.inbox.pop(key, None)

    # ------------------------------------------------------------------
    # scheduling

    def _enqueue(self, row: InstanceRow, *, priority: int, keep_seq: bool = False) -> None:
        row.priority = priority
        if not keep_seq:
            self._seq += 1
            row.queue_seq = self._seq
        self._set_status(row, "queued")
        heapq.heappush(self.ready, (row.priority, row.queue_seq, row.key))

    def _schedule(self) -> None:
        deferred = []
        running_by_workflow: dict[str, int] = {}
        for key in self.live:
            running_by_workflow[key[0]] = running_by_workflow.get(key[0], 0) + 1
        while self.ready and len(self.live) < self.config.max_running:
            priority, seq, key = heapq.heappop(self.ready)
            row = self.rows.get(key)
            if (
                row is None
                or row.status != "queued"
                or (row.priority, row.queue_seq) != (priority, seq)
                or key in self.live
            ):
                continue  # stale entry
            spec = self.specs.get(row.workflow)
            if spec is None:
                continue
            if (
                spec.max_running is not None
                and running_by_workflow.get(row.workflow, 0) >= spec.max_running
            ):
                deferred.append((priority, seq, key))
                continue
            running_by_workflow[row.workflow] = running_by_workflow.get(row.workflow, 0) + 1
            self._start_instance(row, spec)
        for entry in deferred:
            heapq.heappush(self.ready, entry)

    def _start_instance(self, row: InstanceRow, spec: WorkflowSpec) -> None:
        row.started_at = row.started_at or time.time()
        self._set_status(row, "running")
        live = _Live(None, row.generation)
        self.live[row.key] = live
        live.monitor = asyncio.ensure_future(self._monitor(row.key, live, spec))

    async def _create_actor(self, row: InstanceRow, spec: WorkflowSpec) -> Any:
        setup = InstanceSetup(
            workflow=row.workflow,
            instance_id=row.id,
            journal_path=str(self._journal_path(row)),
            spec=spec,
            bindings={s.binding: s.name for s in self.specs.values()},
            vars=dict(self.config.vars),
            hibernate_after=self.config.hibernate_after,
            limits=self.config.limits,
            code_paths=self.config.code_paths,
            namespace=self.config.namespace,
            supervisor_name=SUPERVISOR_NAME,
        )
        name = actor_name(row.workflow, row.id)
        options = {
            "name": name,
            "namespace": self.config.namespace,
            "lifetime": "detached",
            "num_cpus": 0,
            "max_restarts": 0,
            "max_concurrency": 64,
            # Spread instances over the cluster's nodes (no effect on one node).
            "scheduling_strategy": "SPREAD",
        }
        delay = 0.02
        while True:
            try:
                return _REMOTE_INSTANCE.options(**options).remote(setup)
            except ValueError:
                # The name is still held by an earlier actor of this instance
                # on its way out (it hibernated a moment ago). Never run two:
                # make sure it is dead, wait for the name, then go on.
                old = self._find_actor(row)
                if old is not None:
                    _kill(old)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def _monitor(
        self, key: tuple[str, str], live: _Live, spec: WorkflowSpec | None = None
    ) -> InstanceOutcome | None:
        row = self.rows.get(key)
        if row is None:
            return None
        outcome: InstanceOutcome | None
        try:
            if live.handle is None:
                assert spec is not None
                live.handle = await self._create_actor(row, spec)
                if live.pause_requested:
                    live.handle.pause.remote()
                if self.inbox.get(key):
                    self._spawn_push(key)
            outcome = await live.handle.run.remote(live.generation, row.params, row.created_at)
        except asyncio.CancelledError:
            raise
        except ray.exceptions.RayActorError:
            outcome = None  # the process died: rehydrate
        except Exception as exc:  # noqa: BLE001 - the engine failed on this instance
            cause = getattr(exc, "cause", exc)
            if isinstance(cause, StorageUnavailable):
                outcome = InstanceOutcome("storage")  # not the instance's fault: retry later
            else:
                name = (
                    "JournalCorrupt" if isinstance(cause, JournalCorrupt) else type(cause).__name__
                )
                outcome = InstanceOutcome("errored", error=(name, str(cause)))
        if self.live.get(key) is not live:
            return outcome  # stopped by a control command, which handles the row
        del self.live[key]
        if live.handle is not None:
            _kill(live.handle)
        self._on_outcome(row, outcome)
        self._schedule()
        return outcome

    def _on_outcome(self, row: InstanceRow, outcome: InstanceOutcome | None) -> None:
        if outcome is None:
            row.crashes += 1
            if row.crashes > MAX_CONSECUTIVE_CRASHES:
                self._finish(
                    row,
                    InstanceOutcome(
                        "errored",
                        error=(
                            "InstanceCrashed",
                            f"the instance's process died {row.crashes} times in a row",
                        ),
                    ),
                )
            elif row.status == "waitingForPause":
                row.paused_from = "running"
                self._set_status(row, "paused")
            else:
                self._enqueue(row, priority=0)
            return
        if outcome.kind == "storage":
            # The journal could not be written (storage full or read-only). The
            # instance is fine: it waits, and runs again (replaying its journal)
            # after a back-off, until the storage takes writes again.
            low, high = STORAGE_RETRY_SECONDS
            delay = min(self._storage_delay.get(row.key, low / 2) * 2, high)
            self._storage_delay[row.key] = delay
            log.warning("instance %s/%s: storage unavailable, retry in %.0fs", *row.key, delay)
            row.wake_at, row.waiting_for = time.time() + delay, []
            self._set_status(row, "waiting")
            self._arm(row)
            return
        self._storage_delay.pop(row.key, None)
        row.crashes = 0
        if outcome.started_at and not row.started_at:
            row.started_at = outcome.started_at
        if outcome.kind in FINAL:
            self._finish(row, outcome)
        elif outcome.kind == "hibernate":
            row.wake_at, row.waiting_for = outcome.wake_at, list(outcome.waiting_for)
            self._set_status(row, "waiting")
            self._arm(row)
            if self._events_waited_for(row):
                self._enqueue(row, priority=0)
        elif outcome.kind == "paused":
            row.paused_from = "running"
            self._set_status(row, "paused")
        else:  # cancelled without a command (should not happen): run it again
            self._enqueue(row, priority=0)

    def _finish(self, row: InstanceRow, outcome: InstanceOutcome) -> None:
        row.output = outcome.output
        row.error_name, row.error_message = outcome.error or (None, None)
        row.ended_at = time.time()
        row.wake_at, row.waiting_for = None, []
        self._set_status(row, outcome.kind)

    def _set_status(self, row: InstanceRow, status: str) -> None:
        if row.status != status:
            self._count(row.workflow, row.status, -1)
            self._count(row.workflow, status, +1)
            row.status = status
        self._save(row)

    def _save(self, row: InstanceRow) -> None:
        """Write a row; while the storage refuses, keep it in memory and retry later
        (the journals stay the source of truth: a lost row is rebuilt from them)."""
        try:
            self.registry.save(row)
        except StorageUnavailable as exc:
            if not self._unsaved:
                log.error("%s: keeping registry changes in memory until it is back", exc)
            self._unsaved.add(row.key)
        else:
            self._unsaved.discard(row.key)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for key in list(self._unsaved):
                row = self.rows.get(key)
                if row is None:
                    self._unsaved.discard(key)
                    continue
                self._save(row)
                if key in self._unsaved:
                    break  # still refused: try again later

    def _count(self, workflow: str, status: str, delta: int) -> None:
        key = (workflow, status)
        self.counts[key] = self.counts.get(key, 0) + delta

    def _journal_path(self, row: InstanceRow) -> Path:
        return journal_path(Path(self.config.storage), row.workflow, row.id)

    # ------------------------------------------------------------------
    # alarms and housekeeping

    def _arm(self, row: InstanceRow) -> None:
        if row.wake_at is None or math.isinf(row.wake_at):
            return
        heapq.heappush(self.alarms, (row.wake_at, row.key))
        if self._alarm_changed is not None:
            self._alarm_changed.set()

    async def _alarm_loop(self) -> None:
        assert self._alarm_changed is not None
        while True:
            now = time.time()
            fired = False
            while self.alarms and self.alarms[0][0] <= now:
                at, key = heapq.heappop(self.alarms)
                row = self.rows.get(key)
                if row is not None and row.status == "waiting" and row.wake_at == at:
                    self._enqueue(row, priority=0)
                    fired = True
            if fired:
                self._schedule()
            delay = min(1.0, self.alarms[0][0] - now) if self.alarms else 1.0
            self._alarm_changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._alarm_changed.wait(), max(delay, 0.001))

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(30)
            try:
                self.purge_expired()
            except Exception:  # noqa: BLE001 - housekeeping must never stop the supervisor
                log.exception("retention purge failed")

    def purge_expired(self, now: float | None = None) -> int:
        """Delete final instances older than the retention period (row and journal)."""
        cutoff = (now or time.time()) - self.config.retention
        expired = [
            r for r in self.rows.values() if r.status in FINAL and (r.ended_at or 0) < cutoff
        ]
        for row in expired:
            remove_journal(self._journal_path(row))
            del self.rows[row.key]
            self._count(row.workflow, row.status, -1)
        self.registry.delete_instances([r.key for r in expired])
        return len(expired)

    # ------------------------------------------------------------------
    # introspection (tests, benchmarks, CLI)

    async def stats(self) -> dict[str, Any]:
        await self.start()
        by_status: dict[str, int] = {}
        for (_, status), n in self.counts.items():
            by_status[status] = by_status.get(status, 0) + n
        return {
            "live_actors": len(self.live),
            "max_running": self.config.max_running,
            "ready": sum(1 for r in self.rows.values() if r.status == "queued"),
            "alarms": len(self.alarms),
            "by_status": {k: v for k, v in by_status.items() if v},
            "storage": str(self.config.storage),
            "hibernate_after": self.config.hibernate_after,
        }

    async def live_instances(self) -> list[tuple[str, str]]:
        await self.start()
        return list(self.live)

    async def actor_pid(self, workflow: str, instance_id: str) -> int | None:
        live = self.live.get((workflow, instance_id))
        if live is None or live.handle is None:
            return None
        return await live.handle.pid.remote()

    def pid(self) -> int:
        import os

        return os.getpid()

    async def shutdown(self) -> None:
        """Let live instance actors go (their journals keep everything)."""
        for live in list(self.live.values()):
            if live.handle is not None:
                _kill(live.handle)
        self.live.clear()


async def _call(method: Any, *args: Any) -> Any:
    try:
        return await asyncio.wait_for(method.remote(*args), CONTROL_TIMEOUT)
    except Exception:  # noqa: BLE001 - a dead actor is handled by its monitor
        return None


def _kill(handle: Any) -> None:
    with contextlib.suppress(Exception):
        ray.kill(handle, no_restart=True)


def _read_steps(path: Path) -> list[StepInfo]:
    if not path.exists():
        return []
    deadline = time.monotonic() + 5
    while True:
        try:
            with DuckJournal(path, read_only=True) as journal:
                return step_infos(journal)
        except JournalLocked as exc:
            # The file is still held by an actor on its way out.
            if time.monotonic() > deadline:
                raise PyflowError(f"cannot read the journal of this instance: {exc}") from None
            time.sleep(0.05)


_REMOTE_INSTANCE = ray.remote(InstanceActor)
