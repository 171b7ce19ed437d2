"""The shared placement as an actor backend: instances on a pool of host actors.

:class:`SharedHostBackend` implements :class:`~.wrapper.ActorBackend` over
:class:`~pyflow_actors.runtime.host.InstanceHost` actors, so the rest of the
supervisor (scheduling, alarms, events, control, recovery) does not care where
an instance lives:

* ``create`` picks the least-loaded host and returns a handle whose calls
  name the instance; its first run takes the instance there and runs it in
  one call (not a process start), and the host lets go of it when that run
  ends (closes its journal, forgets it); ``kill`` evicts it otherwise;
* a host that dies makes every handle on it raise ``InstanceActorGone`` from
  ``run``: the supervisor rehydrates those instances, on other hosts, from
  their journals (committed steps are not run again);
* ``find`` asks the hosts that outlived a supervisor restart what they hold
  (adoption); an instance a host still holds but nobody adopted is evicted
  there before it is placed anew: never two runners for one instance.

:class:`~.host_pool.HostPool` is the pure placement logic (which host, when
to grow and shrink), tested without Ray; the backend starts the hosts it asks
for ahead of need and tells it when each is ready. :class:`PlacementRouter`
picks the dedicated or the shared backend per workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ...models import Placement
from ..protocol import InstanceOutcome, InstanceSetup, RunRequest
from .host_pool import PER_HOST, SHRINK_AFTER, HostEntry, HostPool
from .table import Key
from .wrapper import ActorBackend, InstanceActorHandle, RayActorBackend, RayInstanceActor

log = logging.getLogger("pyflow.supervisor")

HOST_PREFIX = "pyflow-host-"
DISCOVERY_TIMEOUT = 10.0  # seconds for a surviving host to say what it holds
T = TypeVar("T")


class SharedInstance(RayInstanceActor):
    """One instance on a host: the dedicated handle's calls, keyed; ``kill`` evicts.

    A new placement is not sent on its own: the first ``run`` takes the setup to
    the host with it (``run_placed``, one round trip per activation), and the host
    lets go of the instance when that run ends. A call made before the run is sent
    places the instance first (as two calls did before); a call made while
    ``run_placed`` is on its way waits on the host for its arrival
    (``when_placed``), since Ray does not order an async actor's calls.
    """

    def __init__(
        self,
        backend: SharedHostBackend,
        entry: HostEntry,
        key: Key,
        token: str,
        setup: InstanceSetup | None = None,
    ) -> None:
        super().__init__(_GatedHost(self))
        self.backend, self.entry, self.key, self.token = backend, entry, key, token
        self._setup = setup  # not on the host yet: the first run takes it there
        self._placing: asyncio.Future[None] | None = None
        self._arriving = False  # run_placed sent; not known to have reached the host
        self._arrival: asyncio.Future[None] | None = None
        self.let_go = False  # the host let go of it itself (its run_placed ended)

    async def run(self, request: RunRequest) -> InstanceOutcome:
        if self._setup is None or self._placing is not None:
            return await super().run(request)
        setup, self._setup, self._arriving = self._setup, None, True
        try:
            ref = self.entry.actor.run_placed.remote(setup, self.token, request)
            outcome: InstanceOutcome = await self._call(ref)
        except asyncio.CancelledError:
            raise  # the host may still run it: an eviction (after its arrival) is needed
        except BaseException:
            self._arriving, self.let_go = False, True
            raise
        self._arriving, self.let_go = False, True
        return outcome

    def kill(self) -> None:
        self.backend.evict(self)

    def on_host(self) -> bool:
        """False if nothing was ever sent to the host (nothing there to evict)."""
        return self._setup is None or self._placing is not None

    async def send(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the host for this instance, once the host has it."""
        if self._setup is not None:  # nothing sent yet: place it on its own first
            if self._placing is None:
                self._placing = asyncio.ensure_future(self._place())
            await asyncio.shield(self._placing)
        elif self._arriving:
            if self._arrival is None or self._arrival.done():
                self._arrival = asyncio.ensure_future(
                    self._call(self.entry.actor.when_placed.remote(self.key, self.token))
                )
            await asyncio.shield(self._arrival)
        return await getattr(self.entry.actor, method).remote(self.key, *args)

    async def _place(self) -> None:
        assert self._setup is not None
        await self.backend.watch(self.entry, self.entry.actor.place.remote(self._setup, self.token))
        self._setup = None

    async def _call(self, ref: Awaitable[T]) -> T:  # type: ignore[override]
        return await RayInstanceActor._call(self.backend.watch(self.entry, ref))


class _GatedHost:
    """The host as one instance's actor: ``method.remote(*args)`` calls it keyed,
    once the host holds the instance (:meth:`SharedInstance.send`)."""

    def __init__(self, instance: SharedInstance) -> None:
        self._instance = instance

    def __getattr__(self, method: str) -> _GatedMethod:
        return _GatedMethod(self._instance, method)


class _GatedMethod:
    def __init__(self, instance: SharedInstance, method: str) -> None:
        self._instance, self._method = instance, method

    def remote(self, *args: Any) -> Awaitable[Any]:
        return self._instance.send(self._method, *args)


HostFactory = Callable[[str], Any]  # host name -> a new host actor handle
Discovery = Callable[[], list[tuple[str, Any, list[Key]]]]  # (name, actor, keys held)


class SharedHostBackend:
    """Instances on a pool of host actors (see module doc)."""

    def __init__(
        self,
        namespace: str,
        *,
        spawn: HostFactory | None = None,
        discover: Discovery | None = None,
        max_hosts: Callable[[], int] | None = None,
        kill_host: Callable[[Any], None] | None = None,
        per_host: int = PER_HOST,
    ) -> None:
        self.namespace = namespace
        self._spawn = spawn or _ray_spawner(namespace)
        self._discover = discover or (lambda: _ray_discover(namespace))
        self._max_hosts = max_hosts or _cluster_cpus
        self._kill_host = kill_host or _ray_kill
        self._per_host = per_host
        self._pool: HostPool | None = None
        self._found: dict[Key, HostEntry] = {}
        self._quiet: set[asyncio.Future[Any]] = set()
        self._tokens: dict[Key, str] = {}  # each instance's current placement ("": adopted)
        self._storage: Path | None = None  # where journals go (a new host fills its stock)

    @property
    def pool(self) -> HostPool:
        """The pool, made on first use: hosts that outlived a supervisor restart join it."""
        if self._pool is None:
            self._pool = HostPool(self._max_hosts(), per_host=self._per_host)
            for name, actor, keys in self._discover():
                entry = HostEntry(name, actor)
                self._pool.add(entry)
                for key in keys:
                    self._found[key] = entry
            if self._found:
                # Recovery adopts (find) in one synchronous pass: what it left
                # is held by nobody and would keep its journal open. Let it go.
                with contextlib.suppress(RuntimeError):  # no running loop
                    asyncio.get_running_loop().call_soon(self._evict_unadopted)
        return self._pool

    def _evict_unadopted(self) -> None:
        for key, entry in list(self._found.items()):
            del self._found[key]
            log.warning("host %s held %s, which nobody adopted: evicted", entry.name, key)
            self._forget(entry.actor.evict.remote(key))

    async def create(self, setup: InstanceSetup) -> InstanceActorHandle:
        """A handle on the least-loaded host; nothing is sent until its first call
        (its run takes the setup with it: see :class:`SharedInstance`)."""
        key = (setup.workflow, setup.instance_id)
        stale = self._found_on(key)
        if stale is not None:  # held by a host since before a restart, not adopted
            with contextlib.suppress(Exception):
                await self.watch(stale, stale.actor.evict.remote(key))
        self.retire_idle()
        self._storage = Path(setup.journal_path).parents[2]  # <storage>/journals/<wf>/<id>
        pool = self.pool
        entry = pool.choose() or self._grow()
        token = uuid.uuid4().hex
        pool.place(entry, key)
        self._tokens[key] = token
        self._grow_ahead()
        return SharedInstance(self, entry, key, token, setup)

    def _grow(self) -> HostEntry:
        """Start a host; it takes instances once it answered (or if none other can)."""
        entry = HostEntry(f"{HOST_PREFIX}{uuid.uuid4().hex[:8]}", None, ready=False)
        entry.actor = self._spawn(entry.name)
        self.pool.add(entry)
        log.info("host %s started (%d in the pool)", entry.name, len(self.pool.hosts))
        self._background(self._warm(entry))
        return entry

    def _grow_ahead(self) -> None:
        """Start the next host before it is needed (a worker start is ~0.5 CPU-s)."""
        if self.pool.wants_host():
            self._grow()

    async def _warm(self, entry: HostEntry) -> None:
        """Wait for a new host's first answer (its loop runs, its journal stock fills)."""
        storage = "" if self._storage is None else str(self._storage)
        try:
            await self.watch(entry, entry.actor.warm.remote(storage))
        except Exception:  # noqa: BLE001 - a dead host is out of the pool (watch)
            log.warning("host %s failed its warm-up", entry.name, exc_info=True)
        if entry.alive:  # it answered: its loop runs
            entry.ready = True
            self._grow_ahead()

    def find(self, workflow: str, instance_id: str) -> InstanceActorHandle | None:
        key = (workflow, instance_id)
        entry = self._found_on(key)
        if entry is None or not entry.alive:
            return None
        self.pool.place(entry, key)
        self._tokens[key] = ""
        return SharedInstance(self, entry, key, token="")  # "": evict whatever it holds

    def _found_on(self, key: Key) -> HostEntry | None:
        """The host that held the instance when the pool was discovered (once)."""
        _ = self.pool  # discovers the surviving hosts on first use
        return self._found.pop(key, None)

    def evict(self, handle: SharedInstance) -> None:
        """Let the instance go: its host closes the journal and forgets it.

        Only the current placement: a handle let go late (the instance was placed
        anew meanwhile, maybe on the same host) changes nothing. Else the pool
        forgot the new placement, and retired its host, step in flight, as empty
        (the chaos soak's step run twice with no fault near it, seed 16)."""
        if self._tokens.get(handle.key) != handle.token:
            return
        del self._tokens[handle.key]
        live = self.pool.release(handle.key, handle.entry)
        if live and not handle.let_go and handle.on_host():  # else the host let go already
            token = handle.token or None
            self._forget(handle.send("evict", token))
        self.retire_idle()
        self._grow_ahead()  # the pool may just have gone quiet
        if not handle.entry.placed:  # look again once it may have stayed empty long enough
            with contextlib.suppress(RuntimeError):  # no running loop: at shutdown
                asyncio.get_running_loop().call_later(SHRINK_AFTER + 1, self.retire_idle)

    def unpin(self, handle: SharedInstance) -> None:
        """Let a pre-activated instance hibernate again (its host holds it live until
        its alarm otherwise: see ``preactivation.py``); its run then ends as any."""
        if self._tokens.get(handle.key) == handle.token and handle.entry.alive:
            self._forget(handle.send("unpin"))

    def retire_idle(self, now: float | None = None) -> None:
        """Stop the hosts the pool no longer needs (empty for a while)."""
        for entry in self.pool.idle(time.monotonic() if now is None else now):
            self.pool.retire(entry)
            self._kill_host(entry.actor)

    async def watch(self, entry: HostEntry, ref: Awaitable[T]) -> T:
        """Await a call on a host, learning from it that the host died."""
        from ray.exceptions import RayActorError

        try:
            return await ref
        except RayActorError:
            self.pool.lost(entry)
            raise

    def _forget(self, ref: Any) -> None:
        """A call whose answer nobody needs (its errors too: a dead host is handled)."""

        async def quietly() -> None:
            with contextlib.suppress(Exception):
                await ref

        self._background(quietly())

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on the loop, keeping a reference until it ends."""
        try:
            task = asyncio.ensure_future(work)
        except RuntimeError:  # no running loop (shutdown): nothing to wait on
            work.close()
            return
        self._quiet.add(task)
        task.add_done_callback(self._quiet.discard)


class PlacementRouter:
    """An :class:`ActorBackend` that places each workflow as its config says."""

    def __init__(
        self,
        dedicated: ActorBackend,
        shared: ActorBackend,
        placement_of: Callable[[str], Placement],
    ) -> None:
        self.dedicated, self.shared, self.placement_of = dedicated, shared, placement_of

    async def create(self, setup: InstanceSetup) -> InstanceActorHandle:
        return await self._backend(setup.workflow).create(setup)

    def find(self, workflow: str, instance_id: str) -> InstanceActorHandle | None:
        first = self._backend(workflow)
        other = self.dedicated if first is self.shared else self.shared
        return first.find(workflow, instance_id) or other.find(workflow, instance_id)

    def _backend(self, workflow: str) -> ActorBackend:
        shared = self.placement_of(workflow) == Placement.SHARED
        return self.shared if shared else self.dedicated


def placement_router(namespace: str, placement_of: Callable[[str], Placement]) -> PlacementRouter:
    """The supervisor's backend in Ray: dedicated actors, or shared hosts, per workflow."""
    return PlacementRouter(RayActorBackend(namespace), SharedHostBackend(namespace), placement_of)


# -- Ray ----------------------------------------------------------------------


def _ray_spawner(namespace: str) -> HostFactory:
    remote: Any = None

    def spawn(name: str) -> Any:
        nonlocal remote
        import ray

        if remote is None:
            from ..host import InstanceHost

            remote = ray.remote(InstanceHost)
        return remote.options(
            name=name,
            namespace=namespace,
            lifetime="detached",  # outlives a supervisor restart (adopted by find)
            num_cpus=0,
            max_restarts=0,  # a dead host's instances are rehydrated elsewhere
            max_concurrency=100_000,
            scheduling_strategy="SPREAD",  # hosts over the cluster's nodes
        ).remote(name)

    return spawn


def _ray_discover(namespace: str) -> list[tuple[str, Any, list[Key]]]:
    """The hosts alive in the namespace and what each holds (blocking: recovery only)."""
    import ray

    found: list[tuple[str, Any, list[Key]]] = []
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["namespace"] != namespace or not named["name"].startswith(HOST_PREFIX):
            continue
        try:
            actor = ray.get_actor(named["name"], namespace=namespace)
            keys: list[Key] = ray.get(actor.keys.remote(), timeout=DISCOVERY_TIMEOUT)
        except Exception:  # noqa: BLE001 - dying or stuck: not adopted, instances rehydrate
            log.warning("host %s did not answer; not adopted", named["name"])
            continue
        found.append((named["name"], actor, [(str(k[0]), str(k[1])) for k in keys]))
    return found


def _cluster_cpus() -> int:
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return int(resources.get("CPU", 1))


def _ray_kill(actor: Any) -> None:
    import ray

    with contextlib.suppress(Exception):
        ray.kill(actor, no_restart=True)
