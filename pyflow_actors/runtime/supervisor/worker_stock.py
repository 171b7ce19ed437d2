"""The worker stock: idle Ray workers kept prestarted on every node, ahead of any instance.

An instance actor starts on a Ray worker process. Without an idle one the
raylet starts a process for it (~0.35-0.4 CPU-s here, nearly all ``import
ray``: 0.8-1.9 s wall under load); on an idle one the actor is up in ~0.1 s
(docs/performance-notes.md, "Ray's levers"). The raylet prestarts ``num_cpus`` idle workers when
it starts, but a worker an actor took is not given back, and the warm pool
(``warm.py``) cannot help a lone create: nothing tells it ahead. The stock
keeps ``worker_stock`` idle workers of the engine's job on each node with the
raylet's ``PrestartWorkers`` call (the one behind Ray's own
``prestart_workers_on_local_node``), each kept alive ``worker_stock_keep_alive``
while unused (past that the raylet may reap it), and refills a node after an
actor start took one. Every worker it holds or has asked for counts in the
warm pool's budget (``warm_actors``): never more of both than that.

* :class:`StockPlan`: how many to ask each node for (no Ray; unit-tested);
* :class:`Raylets`: the two raylet calls (idle workers of the job, prestart n);
  :class:`RayRaylets` makes them over Ray's authenticated gRPC channel;
* :class:`WorkerStock`: one refill at a time, on a poke after an actor start,
  ``CHECK_SECONDS`` after a refill (to see its workers arrive) and otherwise
  every ``IDLE_CHECK_SECONDS`` (workers the raylet reaped, nodes added): a
  full stock does not ask the raylets every worker's stats every 2 s;
  :class:`StockedBackend` pokes it and counts the actor starts in flight.

The stock and the warm pool are one budget that does not fight for the CPU:
the pool refills the stock only when the machine is quiet of activations (no
actor start in flight, no queued instance, every alarm due within the pool's
lead already warm), and a warm actor may take a stocked worker (README "Ray's
levers": with refills during a burst of warm starts ahead of 30 due alarms,
17 of 30 were warm in time and the p99 lateness was 5.9 s).

Off (``for_engine`` returns None) when ``worker_stock`` is 0 or the engine's
job has a runtime_env (an engine joined to a cluster by ``start_local``): Ray
gives an idle worker only to an actor of the same runtime_env, and an actor
start with one goes through Ray's runtime env agent anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...config import EngineConfig
from ..protocol import InstanceSetup
from .wrapper import ActorBackend, InstanceActorHandle

log = logging.getLogger("pyflow.supervisor")

CHECK_SECONDS = 2.0  # after a refill: its workers arriving (or lost, see SETTLE_SECONDS)
IDLE_CHECK_SECONDS = 60.0  # a full stock: workers the raylet reaped, nodes added
MIN_LOOK_SECONDS = 0.5  # between two looks (GetNodeStats asks every worker of a node)
SETTLE_SECONDS = 5.0  # a prestart not seen idle by then is taken as lost (asked again)
RPC_TIMEOUT = 5.0
BACKOFF_SECONDS = 30.0  # after a raylet call failed
UP_SAMPLES = 50  # recent actor starts timed to the actor's first answer


@dataclass
class Asked:
    """Workers asked of one node and not yet seen idle."""

    at: float
    count: int


@dataclass
class StockPlan:
    """How many idle workers to ask each node for: ``per_node`` idle on each,
    never more held or asked (all nodes) than ``room``. Idle workers are known
    by pid: a pid not idle at the last look is an asked worker arriving, even
    if an actor took another one in between (counts would cancel out)."""

    per_node: int
    asked: dict[str, list[Asked]] = field(default_factory=dict)
    seen: dict[str, frozenset[int]] = field(default_factory=dict)  # idle at the last look
    taken: int = 0  # idle workers seen once and gone at a later look (an actor took them)

    def pending(self, node: str, now: float) -> int:
        """Asked of ``node`` within ``SETTLE_SECONDS`` and not yet seen idle."""
        live = [a for a in self.asked.get(node, []) if now - a.at < SETTLE_SECONDS]
        self.asked[node] = live
        return sum(a.count for a in live)

    def observe(self, node: str, idle: frozenset[int]) -> None:
        """The idle workers' pids on ``node`` now: new ones are asked workers arriving,
        missing ones were taken (or reaped past their keep-alive)."""
        before = self.seen.get(node, frozenset())
        arrived = len(idle - before)
        self.taken += len(before - idle)
        self.seen[node] = idle
        for asked in self.asked.get(node, []):
            taken = min(arrived, asked.count)
            asked.count, arrived = asked.count - taken, arrived - taken
        self.asked[node] = [a for a in self.asked.get(node, []) if a.count]

    def held(self, now: float) -> int:
        """Idle workers seen plus those asked for, on every node."""
        idle = sum(len(pids) for pids in self.seen.values())
        return idle + sum(self.pending(node, now) for node in list(self.asked))

    def to_ask(self, idle: dict[str, frozenset[int]], room: int, now: float) -> dict[str, int]:
        """The workers to ask each node for now (and record them as asked)."""
        for node, pids in idle.items():
            self.observe(node, pids)
        for gone in set(self.seen) - set(idle):  # a node left: forget it
            self.seen.pop(gone)
            self.asked.pop(gone, None)
        left = room - self.held(now)
        wanted: dict[str, int] = {}
        for node, pids in sorted(idle.items(), key=lambda item: len(item[1])):  # emptiest first
            n = min(self.per_node - len(pids) - self.pending(node, now), left)
            if n > 0:
                wanted[node] = n
                self.asked.setdefault(node, []).append(Asked(now, n))
                left -= n
        return wanted


class Raylets(Protocol):
    """The raylet calls the stock makes (unit tests swap in a fake)."""

    async def idle(self) -> dict[str, frozenset[int]]:
        """The pids of the idle workers of the engine's job on each live node."""
        ...

    async def prestart(self, node: str, count: int, keep_alive: float) -> None:
        """Ask ``node``'s raylet to start ``count`` idle workers of the job."""
        ...


class WorkerStock:
    """Keeps the plan's idle workers on every node (see the module docstring)."""

    def __init__(self, raylets: Raylets, per_node: int, keep_alive: float) -> None:
        self.raylets, self.keep_alive = raylets, keep_alive
        self.plan = StockPlan(per_node)
        self.asked = 0  # workers asked of raylets so far
        self.looks = 0  # GetNodeStats rounds (each asks every worker of a node)
        self._refill: asyncio.Future[None] | None = None
        self._poked = True
        self._next_check = 0.0  # monotonic: a look without a poke from then on
        self._earliest = 0.0  # monotonic: no look before then

    def configure(self, per_node: int, keep_alive: float) -> None:
        self.plan.per_node, self.keep_alive = per_node, keep_alive

    def held(self) -> int:
        """Idle workers seen and those asked for: what the budget counts."""
        return self.plan.held(time.monotonic())

    def stats(self) -> dict[str, int]:
        """The stock's counts for the supervisor's ``stats()`` and ``/metrics``."""
        return {
            "worker_stock_idle": sum(len(pids) for pids in self.plan.seen.values()),
            "worker_stock_prestarted": self.asked,
            "worker_stock_taken": self.plan.taken,
            "worker_stock_looks": self.looks,
        }

    def poke(self) -> None:
        """An actor start may have taken a stock worker: refill at the next round."""
        self._poked = True

    def round(self, room: int, quiet: bool = True) -> None:
        """Start a refill if one is due (a poke, or the next check) and none is
        running; ``room``: workers the budget leaves to the stock; ``quiet``:
        no activation is starting or wanted (else a poke waits for the quiet).
        At most one look per ``MIN_LOOK_SECONDS`` (each asks every worker of the
        node for its stats), none for ``BACKOFF_SECONDS`` after a failed one."""
        now = time.monotonic()
        if not quiet or (self._refill is not None and not self._refill.done()):
            return
        if now < self._earliest or (not self._poked and now < self._next_check):
            return
        self._poked, self._next_check = False, now + IDLE_CHECK_SECONDS
        self._earliest = now + MIN_LOOK_SECONDS
        self._refill = asyncio.ensure_future(self.refill(room))

    async def refill(self, room: int) -> None:
        try:
            self.looks += 1
            idle = await self.raylets.idle()
            now = time.monotonic()
            for node, count in self.plan.to_ask(idle, room, now).items():
                await self.raylets.prestart(node, count, self.keep_alive)
                self.asked += count
            if any(self.plan.pending(node, now) for node in list(self.plan.asked)):
                self._next_check = now + CHECK_SECONDS  # see them arrive, or ask again
        except Exception as exc:  # a raylet gone or refusing: try again later
            log.warning(
                "worker stock: raylet call failed (%s); retrying in %gs", exc, BACKOFF_SECONDS
            )
            self._earliest = time.monotonic() + BACKOFF_SECONDS


class StockedBackend:
    """An :class:`ActorBackend` that counts the actor starts in flight (the stock
    refills only when there are none) and pokes the stock after each.

    Ray's actor creation returns before the actor is up; a start is in flight
    until the actor answers its first call (a ``pid``, a few ms on a live actor,
    made for this: the instance's own first call, ``run``, lasts its whole run).
    """

    def __init__(self, inner: ActorBackend, stock: WorkerStock) -> None:
        self.inner, self.stock = inner, stock
        self.starting = 0
        # Seconds from create to the actor's first answer, recent starts: what an
        # activation costs now (the warm pool plans alarms' leads with it).
        self.up_seconds: deque[float] = deque(maxlen=UP_SAMPLES)

    async def create(self, setup: InstanceSetup) -> InstanceActorHandle:
        self.starting += 1
        began = time.monotonic()
        try:
            handle = await self.inner.create(setup)
        except BaseException:
            self._started()
            raise
        asyncio.ensure_future(self._until_up(handle, began))
        return handle

    async def _until_up(self, handle: InstanceActorHandle, began: float) -> None:
        try:
            await handle.pid()
            self.up_seconds.append(time.monotonic() - began)
        except Exception:  # noqa: BLE001 - it died or was let go before it was up
            pass
        finally:
            self._started()

    def _started(self) -> None:
        self.starting -= 1
        self.stock.poke()

    def find(self, workflow: str, instance_id: str) -> InstanceActorHandle | None:
        return self.inner.find(workflow, instance_id)


def stocked(backend: ActorBackend, stock: WorkerStock) -> tuple[ActorBackend, StockedBackend]:
    """``backend`` with its dedicated actors' starts going through a
    :class:`StockedBackend` (returned too). A placement router's shared side is
    left alone: an instance on a shared host takes no worker process."""
    dedicated: ActorBackend | None = getattr(backend, "dedicated", None)
    if dedicated is None:
        wrapped = StockedBackend(backend, stock)
        return wrapped, wrapped
    wrapped = StockedBackend(dedicated, stock)
    backend.dedicated = wrapped  # type: ignore[attr-defined]
    return backend, wrapped


class RayRaylets:
    """:class:`Raylets` over each node's ``NodeManagerService`` (Ray's gRPC, with
    Ray's own channel: its auth token and TLS settings)."""

    def __init__(self, job_id: bytes) -> None:
        self.job_id = job_id
        self._stubs: dict[str, Any] = {}  # node id -> NodeManagerServiceStub
        self._addresses: dict[str, str] = {}  # node id -> the raylet's host:port

    async def idle(self) -> dict[str, frozenset[int]]:
        import ray

        nodes = await asyncio.to_thread(ray.nodes)
        alive = {
            n["NodeID"]: f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}"
            for n in nodes
            if n["Alive"]
        }
        for node in set(self._stubs) - set(alive):
            self._stubs.pop(node)
        self._addresses = alive
        counts = await asyncio.gather(*(self._idle(node) for node in alive))
        return dict(zip(alive, counts, strict=True))

    async def _idle(self, node: str) -> frozenset[int]:
        _, node_manager, _ = _protos()
        reply = await self._stub(node).GetNodeStats(
            node_manager.GetNodeStatsRequest(), timeout=RPC_TIMEOUT
        )
        return frozenset(w.pid for w in reply.core_workers_stats if self.is_idle(w))

    def is_idle(self, worker: Any) -> bool:
        """A worker process of the job (or of none yet) with no actor and no task."""
        common, _, _ = _protos()
        return (
            worker.worker_type == common.WorkerType.WORKER
            and worker.language == common.Language.PYTHON
            and _nil(worker.actor_id)
            and worker.num_running_tasks == 0
            and (worker.job_id == self.job_id or _nil(worker.job_id))
        )

    async def prestart(self, node: str, count: int, keep_alive: float) -> None:
        common, node_manager, _ = _protos()
        request = node_manager.PrestartWorkersRequest(
            language=common.Language.PYTHON,
            job_id=self.job_id,
            keep_alive_duration_secs=int(keep_alive),
            num_workers=count,
        )
        request.runtime_env_info.serialized_runtime_env = "{}"
        await self._stub(node).PrestartWorkers(request, timeout=RPC_TIMEOUT)

    def _stub(self, node: str) -> Any:
        if node not in self._stubs:
            from ray._private.grpc_utils import init_grpc_channel

            channel = init_grpc_channel(self._addresses[node], asynchronous=True)
            self._stubs[node] = _protos()[2].NodeManagerServiceStub(channel)
        return self._stubs[node]


def _protos() -> tuple[Any, Any, Any]:
    """Ray's generated protobuf and gRPC modules (untyped), imported on first use."""
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

    return common_pb2, node_manager_pb2, node_manager_pb2_grpc


def _nil(ray_id: bytes) -> bool:
    """Ray's nil ids are all 0xff bytes (an unset field: empty)."""
    return all(byte == 0xFF for byte in ray_id)


def for_engine(config: EngineConfig) -> WorkerStock | None:
    """The stock of this supervisor's Ray job, or None where it is off (see above)."""
    if config.worker_stock <= 0:
        return None
    import ray

    context = ray.get_runtime_context()
    if context.runtime_env:  # the job's runtime_env: idle workers would not match
        log.info("worker stock off: the engine's Ray job has a runtime_env")
        return None
    return WorkerStock(
        RayRaylets(bytes.fromhex(context.get_job_id())),
        config.worker_stock,
        config.worker_stock_keep_alive,
    )
