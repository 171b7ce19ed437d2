"""The supervisor: one detached Ray actor that owns the control plane.

Modelled on Ray Serve's controller: it composes one manager per piece of
control state, each the only writer of its state, and never does data-plane
work itself (instance actors run the workflows):

* ``workflows.WorkflowCatalog``: registered workflows and the stored config;
* ``table.InstanceTable``: instance rows and the registry writes;
* ``admission.Admission``: which creates are accepted (limits, rate);
* ``scheduler.Scheduler``: the ready queue and running slots;
* ``transitions.Transitions``: every status change of an instance;
* ``alarms.Alarms``: wake times of waiting instances;
* ``inbox.Inbox``: accepted events and their delivery;
* ``actors.InstanceActors``: live instance actors, through ``wrapper`` (``start_order``);
* ``warm.WarmPool``: instance actors (and Ray's idle workers) started ahead of need;
* ``preactivation.SharedPreactivation``: shared instances live in a host before their alarm;
* ``control.Control``: pause, resume, terminate, restart;
* ``history.HistoryFolding``: finished instances folded into the history store;
* ``recovery``: what a (re)started supervisor does first.

This class holds the public API that clients call (by keyword, through the
Ray transport) and the glue between the managers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ... import instance_logs
from ...config import EngineConfig
from ...constants import SUPERVISOR_NAME
from ...errors import ConfigError, InstanceNotAcceptingEvents, JournalCorrupt
from ...limits import validate_event_type, validate_payload
from ...models import (
    FINAL_STATUSES,
    BatchCreateResult,
    BatchDeleteResult,
    CreateOptions,
    InstanceDetail,
    InstanceLogs,
    InstancePage,
    InstanceStatus,
    InstanceStatusInfo,
    Placement,
    WorkflowInfo,
    WorkflowSettings,
    rollback_of,
)
from ...retention import Retention
from ...serialization import loads
from ...storage.registry import InboxEvent, InstanceRow, Registry
from ..protocol import InstanceOutcome, InstanceSetup
from . import recovery
from .actors import InstanceActors, Live
from .admission import Accepted, Admission
from .alarms import Alarms
from .control import Action, Control, restart_point
from .deletion import Deletion, resolve_retention
from .history import HistoryFolding
from .hosts import placement_router
from .inbox import Inbox
from .observe import Observability
from .preactivation import SharedPreactivation
from .scheduler import Scheduler
from .schedules import Schedules
from .service_api import ServiceAPI
from .start_order import StartOrder
from .table import InstanceTable, Key, info
from .transitions import Transitions
from .warm import WarmPool, stock_for_engine
from .workflows import WorkflowCatalog, spec_limits
from .wrapper import ActorBackend

log = logging.getLogger("pyflow.supervisor")

HOUSEKEEPING_SECONDS = 30.0
FLUSH_SECONDS = 1.0
SCHEDULE_SECONDS = 1.0  # how often to look for due cron fires
WARM_SECONDS = 0.2  # how often to look for actors to start ahead of need


class Supervisor(ServiceAPI):
    """The control plane; ``backend`` makes instance actors (Ray, or a test's fake)."""

    def __init__(self, config: EngineConfig, backend: ActorBackend | None = None) -> None:
        self.registry = Registry(Path(config.storage))
        self.catalog = WorkflowCatalog(self.registry, config)
        self.config = self.catalog.config
        self.observe = Observability(self.registry, self.config)
        self.table = InstanceTable(self.registry, Path(self.config.storage), self.observe.messages)
        self.inbox = Inbox(self.registry)
        self.scheduler = Scheduler(self.table)
        self.alarms = Alarms(self.table)
        self.transitions = Transitions(self.table, self.scheduler, self.alarms, self.inbox)
        self.admission = Admission(self.table, self.config)
        in_ray = backend is None
        made: ActorBackend = backend or placement_router(self.config.namespace, self.placement_of)
        self.warm = WarmPool(
            made,
            self.config.warm_actors,
            parallelism=os.cpu_count() or 1,
            max_lead=self.config.warm_lead,
            stock=stock_for_engine(self.config) if in_ray else None,  # Ray's idle workers
        )
        self.actors = InstanceActors(self.warm.backend, self._on_ready, self._on_run_end)
        self.order = StartOrder(self.actors, self.inbox)  # resumed instances' actors first
        self.preactive = SharedPreactivation(self, parallelism=os.cpu_count() or 1)
        self.history = HistoryFolding(self.table, self._busy)
        self.commands = Control(
            self.table, self.transitions, self.actors, self.inbox, self.admission,
            current_version=self.catalog.current_version, history=self.history,
        )  # fmt: skip
        self.deletion = Deletion(self.table, self.actors, self.warm, self.inbox, self.history)
        self.schedules = Schedules(self.catalog, self.registry, self._create_scheduled)
        self._started: asyncio.Future[None] | None = None
        self._background: list[asyncio.Future[None]] = []
        if in_ray:
            # Recover as soon as the actor is up, without waiting for a first
            # client call (after a restart nobody calls). Tests call start().
            import ray

            ray.get_runtime_context().current_actor.start.remote()

    # -- start and recovery -------------------------------------------------

    async def start(self) -> bool:
        if self._started is None:
            self._started = asyncio.ensure_future(self._recover())
        await asyncio.shield(self._started)
        return True

    async def _recover(self) -> None:
        folded = await asyncio.to_thread(self.history.load)
        rebuilt = await asyncio.to_thread(recovery.rebuild_rows, self.table, folded)
        if rebuilt:
            log.warning(
                "registry %s had no row for %d instance(s): rebuilt them from journals and creates",
                self.registry.path,
                len(rebuilt),
            )
            self.table.add(rebuilt, durable=False)
        recovery.catch_up_from_store(self.table, folded)  # a registry behind the store
        self.table.compact_creates()
        recovery.continue_all(
            self.table, self.scheduler, self.alarms, self.actors, self.transitions,
            adopted=self.preactive.adopt,
        )  # fmt: skip
        await self.learn_adopted_waits()  # what adopted runs wait for, before serving anyone
        self._background = [
            asyncio.ensure_future(self.alarms.run(self._wake)),
            asyncio.ensure_future(self._every(HOUSEKEEPING_SECONDS, self._housekeeping)),
            asyncio.ensure_future(self._every(FLUSH_SECONDS, self.table.flush)),
            asyncio.ensure_future(self._every(WARM_SECONDS, self._warm_up)),
            asyncio.ensure_future(self._every(WARM_SECONDS, self.preactive.round)),
            asyncio.ensure_future(self._every(SCHEDULE_SECONDS, self.fire_schedules)),
            asyncio.ensure_future(self.history.run()),
            *self.observe.tasks(self._not_live),
        ]
        self._schedule()
        for key in list(self.actors.live):
            self._push(key)

    async def configure(self, config: EngineConfig) -> bool:
        await self.start()
        if Path(config.storage).resolve() != Path(self.config.storage).resolve():
            raise ConfigError(
                f"the engine in this Ray cluster uses storage {self.config.storage}, "
                f"not {config.storage}: stop it first or use the same storage"
            )
        self.config = self.catalog.configure(config)
        self.admission.configure(self.config)
        self.observe.configure(self.config)
        self.warm.configure(self.config)
        self._schedule()
        return True

    # -- workflows ------------------------------------------------------------

    async def update_workflow(self, workflow: str, settings: WorkflowSettings) -> WorkflowInfo:
        """Replace the workflow's settings; a new running cap applies at once."""
        await self.start()
        spec = self.catalog.update(workflow, settings)
        self.config = self.catalog.config
        self._schedule()
        return self._workflow_info(spec.name)

    async def delete_workflow(self, workflow: str) -> None:
        await self.start()
        name = self.catalog.spec(workflow).name
        # Listed again after each stop: while one is stopped, another may end on its
        # own (a KeyError, a 500, found by the fuzzer) or a freed slot start one.
        while live := [key for key in self.actors.live if key[0] == name]:
            await self.actors.stop(live[0], "terminate")
        self.warm.drop_where(lambda key: key[0] == name)
        self.history.forget_workflow(name)
        self.table.forget_workflow(name)
        self.inbox.forget_workflow(name)
        self.catalog.delete(name)
        self.config = self.catalog.config
        shutil.rmtree(Path(self.config.storage) / "journals" / name, ignore_errors=True)
        instance_logs.remove_workflow(self.config.storage, name)

    # -- instances ------------------------------------------------------------

    async def create(
        self,
        workflow: str,
        options: list[CreateOptions],
        batch: bool,
        request_id: str | None = None,
    ) -> list[InstanceStatusInfo]:
        accepted = await self._accept(workflow, options, batch, request_id)
        return [self._info(r) for r in accepted.existing + accepted.new]

    async def create_entries(
        self, workflow: str, options: list[CreateOptions], request_id: str | None = None
    ) -> BatchCreateResult:
        """A batch create with per-entry results: each entry created, or refused with
        its own error (the others are created all the same)."""
        accepted = await self._accept(workflow, options, True, request_id, per_entry=True)
        return accepted.result(self._info)

    async def _accept(
        self,
        workflow: str,
        options: list[CreateOptions],
        batch: bool,
        request_id: str | None,
        per_entry: bool = False,
    ) -> Accepted:
        await self.start()
        name = self.catalog.spec(workflow).name
        version = self.catalog.current_version(name)
        accepted = self.admission.new_rows(name, options, batch, request_id, version, per_entry)
        if accepted.new:
            self.table.add(accepted.new)  # durable before we answer
            for row in accepted.new:
                self.scheduler.push(row)
            self._schedule()
        return accepted

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        await self.start()
        return self._info(self._row(workflow, instance_id))

    async def instance_logs(
        self, workflow: str, instance_id: str, after: int = 0, limit: int = 1000
    ) -> InstanceLogs:
        """What the instance's code printed or logged (read from its log file)."""
        await self.start()
        row = self._row(workflow, instance_id)
        return await asyncio.to_thread(
            instance_logs.read, self.config.storage, row.workflow, row.id, after=after, limit=limit
        )

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        """Status, params and steps; never wakes a hibernated instance."""
        await self.start()
        row = self._row(workflow, instance_id)
        handle = self.actors.handle(row.key) or await self.warm.ready_handle(row.key)
        steps = await self.actors.describe(row.key, handle)
        if steps is None:
            try:
                steps = await asyncio.to_thread(recovery.read_steps, self.table.storage, row.key)
            except JournalCorrupt as exc:
                # The instance cannot go on from this journal: say so, serve the rest.
                if row.status not in FINAL_STATUSES and row.key not in self.actors:
                    self.transitions.fail(row, "JournalCorrupt", str(exc))
                steps = []
        return InstanceDetail(
            status=self._info(row),
            params=loads(row.params),
            steps=steps,
            terminated_by=row.terminated_by,
            placement=self.placement_of(row.workflow),
            retention=self._retention(row),
            rollback=rollback_of(row.status, steps),
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
        name = self.catalog.spec(workflow).name
        rows, total = self.table.page(
            name, status, page, per_page, reverse, created_after, created_before,
            shown=lambda r: self._info(r).status,
        )  # fmt: skip
        return InstancePage(
            instances=[self._info(r) for r in rows], total=total, page=page, per_page=per_page
        )

    async def control(
        self,
        workflow: str,
        instance_id: str,
        action: str,
        restart_from: dict[str, Any] | None = None,
        rollback: bool = False,
        request_id: str | None = None,
    ) -> InstanceStatusInfo:
        await self.start()
        row = self._row(workflow, instance_id)
        if self.commands.applied_before(row, request_id):  # sent again: answered, not redone
            return self._info(row)
        chosen = Action.parse(action)
        keep_before = await restart_point(chosen, restart_from, row, self.describe)
        if chosen == Action.RESTART:
            await self.observe.analytics.ingest([row])  # count the run a restart erases
        await self.commands.apply(row, chosen, keep_before, rollback, request_id)
        if row.status not in (InstanceStatus.QUEUED, InstanceStatus.WAITING):
            self.warm.drop(row.key)  # it will not run soon (or runs a new generation)
        self._schedule()
        self.table.refuse_unless_saved(row)  # answered 200: the change is durable
        return self._info(row)

    async def delete_instances(self, workflow: str, ids: list[str]) -> BatchDeleteResult:
        """Delete instances (a live one is stopped first); the outcome per id."""
        await self.start()
        name = self.catalog.spec(workflow).name
        result = await self.deletion.delete(name, ids, self.config.limits)
        self._schedule()
        return result

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
        if row.status in FINAL_STATUSES:
            raise InstanceNotAcceptingEvents(
                f"instance {instance_id!r} is {row.status}: it no longer accepts events"
            )
        # A retry of a send already delivered is recorded again: the instance's
        # journal knows the id and ignores it, so it is still delivered once.
        event_id = event_id or str(uuid.uuid4())
        event = InboxEvent(event_id, row.workflow, instance_id, event_type, text, time.time())
        if not self.inbox.accept(event):
            return  # a retry of a send that went through (not delivered yet)
        if row.key in self.actors:
            self._push(row.key)
        elif row.status == InstanceStatus.WAITING and event_type in row.waiting_for:
            self.transitions.queue(row)
            self._schedule()

    def _info(self, row: InstanceRow) -> InstanceStatusInfo:
        live = self.actors.live.get(row.key)
        if live is None:
            return info(row)
        return info(row, live.waiting, live.rolling_back)

    def placement_of(self, workflow: str) -> Placement:
        """Where the workflow's instances run (its ``placement``, else the engine's)."""
        spec = self.catalog.specs.get(workflow)
        return self.config.placement if spec is None else self.config.placement_of(spec)

    def _row(self, workflow: str, instance_id: str) -> InstanceRow:
        return self.table.require(self.catalog.spec(workflow).name, instance_id)

    # -- glue between the managers ------------------------------------------

    def _schedule(self) -> None:
        free = self.config.max_running - len(self.actors) + self.preactive.waiting()  # no slot
        running = self.actors.running_by_workflow()
        with self.table.batch():  # the rows admitted: one registry commit, before any call
            for row in self.scheduler.admit(free, running, self.catalog.cap_of, self.actors):
                self.transitions.start(row)
                self.order.start(row, self._setup(row), self.warm.take(row.key))

    def _setup(self, row: InstanceRow) -> InstanceSetup:
        config = self.config
        placement = self.catalog.placement(row.workflow, row.version_id)
        return InstanceSetup(
            workflow=row.workflow,
            instance_id=row.id,
            journal_path=str(self.table.journal_path(row)),
            spec=placement.spec,
            bindings=self.catalog.bindings(),
            vars=dict(config.vars),
            hibernate_after=config.hibernate_after,
            limits=spec_limits(config.limits, self.catalog.specs[row.workflow]),
            code_paths=config.code_paths,
            namespace=config.namespace,
            supervisor_name=SUPERVISOR_NAME,
            version_id=row.version_id,
            check_replay=placement.check_replay,
            on_divergence=placement.spec.on_divergence or config.on_divergence,
        )

    def _warm_up(self) -> None:
        """Start the actors that will be needed soon (see ``warm.py``)."""
        self.warm.drop_where(self._not_warmable)
        if not self.warm.budget:
            return

        def skip(k: Key) -> bool:  # a shared host wakes one with a call: never warmed
            return k in self.actors or self.placement_of(k[0]) == Placement.SHARED

        upcoming = self.alarms.upcoming(self.warm.budget)
        # Still queued here: no slot for it (engine-wide or its workflow's cap): the line.
        for row in self.warm.plan(upcoming, self.scheduler, skip, self.actors.activation_times):
            self.warm.start(row, self._setup(row))

    def _busy(self, key: Key) -> bool:
        return key in self.actors or key in self.warm

    def _not_warmable(self, key: Key) -> bool:
        row = self.table.get(key)
        return (
            row is None
            or row.status not in (InstanceStatus.QUEUED, InstanceStatus.WAITING)
            or key in self.actors
        )

    def _on_ready(self, key: Key, live: Live) -> None:
        if self.inbox.has_any(key):
            self._push(key)

    def _on_run_end(self, key: Key, outcome: InstanceOutcome | None) -> None:
        with self.table.batch():  # its end and the starts it frees: one registry commit
            if (row := self.table.get(key)) is not None:
                self.transitions.after_run(row, outcome)
            self.observe.run_ended()
            self.history.poke(key, outcome)
            self._schedule()

    def _not_live(self) -> list[InstanceRow]:
        return [r for r in self.table if r.key not in self.actors]

    def _wake(self, rows: list[InstanceRow]) -> None:
        with self.table.batch():  # woken and admitted: one registry commit for a burst of alarms
            self.transitions.queue_all(rows)
            self._schedule()

    def _push(self, key: Key) -> None:
        self.inbox.push(key, lambda: self.actors.handle(key))

    # -- housekeeping ---------------------------------------------------------

    @staticmethod
    async def _every(seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                job()
            except Exception:  # noqa: BLE001 - housekeeping must never stop the supervisor
                log.exception("background job %s failed", getattr(job, "__name__", job))

    def fire_schedules(self, now: float | None = None) -> list[str]:
        """Create the instances of the cron fires that are due (see ``schedules.py``)."""
        return self.schedules.tick(now)

    def _create_scheduled(self, workflow: str, option: CreateOptions) -> None:
        version = self.catalog.current_version(workflow)
        [row] = self.admission.new_rows(workflow, [option], False, None, version).new
        self.table.add([row])
        self.scheduler.push(row)
        self._schedule()

    def _housekeeping(self) -> None:
        self.purge_expired()
        self.table.compact_creates()

    def purge_expired(self, now: float | None = None) -> int:
        """Delete final instances kept past their retention (row, journal and log)."""
        return self.deletion.purge_expired(now or time.time(), self._retention)

    def _retention(self, row: InstanceRow) -> Retention:
        spec = self.catalog.specs.get(row.workflow)
        default = spec.default_retention if spec is not None else None
        return resolve_retention(row, default, self.config.retention)

    async def shutdown(self) -> None:
        """Let live instance actors go (their journals keep everything)."""
        self.actors.let_go_all()
        self.warm.let_go_all()
        await self.observe.close()
