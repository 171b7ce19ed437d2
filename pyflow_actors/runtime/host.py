"""The shared host: one Ray actor that runs many instances on its event loop.

The "shared" placement (DESIGN.md section 7). A host holds one
:class:`InstanceRunner` per instance it was given (by instance key), each
with its own journal, the same replay engine and the same commands as in a
dedicated actor; the supervisor reaches them through its actors wrapper
(``supervisor/hosts.py``), naming the instance in every call.

* Hibernation is eviction: :meth:`InstanceHost.evict` stops the runner,
  closes its journal and forgets it; waking it later is a call, not a
  process start.
* Sync step functions already run in threads (the engine's ``to_thread``);
  the host gives its loop a large thread pool so that many instances' sync
  steps do not queue behind a few.
* An async step that blocks (``time.sleep``, CPU work) stalls every
  neighbour: :class:`LoopWatch` measures the loop's lag and names the
  culprit, the instance (and code) running when the loop stalled.
* A run pre-activated ahead of its alarm (``setup.live_until``) is pinned:
  its waits that end by then are slept here, not hibernated, so its own timer
  wakes it on time; :meth:`InstanceHost.unpin` lets it hibernate again.
* The run's wait is reported to the supervisor as it changes (the status shows
  waiting), and again when a restarted supervisor adopts the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..config import add_code_paths
from ..engine import EventRecord, Execution
from ..engine.clock import SYSTEM_CLOCK
from ..errors import InstanceActorGone, JournalLocked, PyflowError
from ..models import StepInfo
from ..storage.duck import journal_database
from ..storage.history import FinishedJournal
from ..storage.journal import DuckJournal
from ..storage.journal_stock import JournalStock
from .host_loop import CURRENT_INSTANCE, LAG_THRESHOLD, Key, LoopStall, LoopWatch
from .protocol import InstanceOutcome, InstanceSetup, RunRequest
from .runner import JOURNAL_LOCK_WAIT, InstanceRunner

log = logging.getLogger("pyflow.host")

STEP_THREADS = 256  # threads for sync steps (made lazily, as they are needed)
WAL_CHECKPOINT_BYTES = 1 << 20  # a journal's log past this is checkpointed when let go
ARRIVAL_WAIT = 10.0  # seconds a call waits for its instance's placement to reach the host
TOKENS_KEPT = 4096  # placements remembered (a late call naming one is answered at once)


@dataclass(frozen=True)
class HostLoad:
    """A host's load figures (the pool places instances by them)."""

    name: str
    pid: int
    node_id: str
    instances: int  # runners held
    running: int  # runners with a run in progress
    lag: float  # worst loop lag (seconds) in the last watch window
    stalls: list[LoopStall] = field(default_factory=list)


class HostedRunner(InstanceRunner):
    """An instance runner that can let go of its journal (a shared host's eviction)."""

    def __init__(
        self,
        setup: InstanceSetup,
        token: str,
        database: duckdb.DuckDBPyConnection,
        stock: JournalStock | None = None,
    ) -> None:
        super().__init__(setup)
        self.token = token  # this placement; an eviction names it, so a late one misses
        self._database, self._stock = database, stock
        self._closed = False
        self._unpinned = False  # the pin expired, or the supervisor let it go
        self._unpin_timer: asyncio.TimerHandle | None = None

    async def _prepare(self) -> type:
        # As the runner's, but the journal is attached to the host's one DuckDB
        # instance (~4 ms, not ~16 ms for an instance of its own) and opened in
        # a thread: an open took 45-140 ms on this loaded machine, a stall for
        # every neighbour on the host's loop (seen by the loop watch in tests).
        add_code_paths(self.setup.code_paths)
        workflow_class = self.setup.spec.load()
        path = Path(self.setup.journal_path)
        journal = await _open_journal_in_thread(path, self._database, self._stock)
        if self._closed:  # evicted while it opened: let go of the file at once
            journal.close()
            raise InstanceActorGone(f"instance {self.setup.instance_id} was evicted")
        # The run's start stamp goes with its first step's commit: one commit
        # less per instance (see storage/journal_meta.py).
        journal.hold_start_meta()
        self._journal = journal
        return workflow_class

    @property
    def running(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    async def close(self) -> None:
        """Stop the run if one is in progress (nothing recorded) and close the journal."""
        self._closed = True
        if self.running:
            await self.cancel()
        if self._prepared is not None and not self._prepared.done():
            await asyncio.gather(self._prepared, return_exceptions=True)
        if self._journal is not None:
            journal, self._journal = self._journal, None
            await asyncio.to_thread(_close_journal, journal)  # off the loop

    def report_wait_again(self) -> None:
        """Tell the supervisor again what the run waits for, if anything (a restarted
        supervisor adopts the run knowing nothing of its wait: it would show running)."""
        if self.running:
            self._wait_reports += 1
            wait = self._wait
            asyncio.ensure_future(self._tell("note_wait", report=self._wait_reports, wait=wait))

    # -- pre-activation: pinned live until its alarm --------------------------

    async def _new_execution(self) -> Execution:
        """As the runner's; a pre-activated run's waits that end by ``live_until`` are
        slept here (the host does not let it go before its alarm), until it is unpinned."""
        execution = await super()._new_execution()
        pinned_for = self._pinned_for()
        if pinned_for > 0:
            execution.hibernate_after = max(execution.hibernate_after, pinned_for)
            if self._unpin_timer is None:
                self._unpin_timer = asyncio.get_running_loop().call_later(pinned_for, self.unpin)
        return execution

    def _pinned_for(self) -> float:
        until = None if self._unpinned else self.setup.live_until
        return 0.0 if until is None else until - SYSTEM_CLOCK.now()

    @property
    def pinned(self) -> bool:
        return self._pinned_for() > 0

    def unpin(self) -> None:
        """Wait as any run does from now on: a wait longer than ``hibernate_after``
        hibernates (the pin expired, or the supervisor's plan no longer wants it)."""
        self._unpinned = True
        if self._unpin_timer is not None:
            self._unpin_timer.cancel()
        if self._execution is not None:
            self._execution.hibernate_after = self.setup.hibernate_after
            self._execution.deliver([])  # no event: the run decides again whether to hibernate


def _close_journal(journal: DuckJournal) -> None:
    """Close a journal, checkpointing it first only if its write-ahead log grew large."""
    wal = journal.path.with_name(journal.path.name + ".wal")
    with contextlib.suppress(OSError, PyflowError):  # not checkpointed: the log stays
        if wal.stat().st_size > WAL_CHECKPOINT_BYTES:
            journal.checkpoint()
    _OPEN.discard(journal)
    journal.close()


# Every journal a host opened and has not closed (to find one left behind).
_OPEN: weakref.WeakSet[DuckJournal] = weakref.WeakSet()


def _open_journal(
    path: Path, database: duckdb.DuckDBPyConnection, stock: JournalStock | None
) -> DuckJournal:
    # A journal made ahead of need (else DuckJournal creates one): known empty.
    fresh = stock is not None and not path.exists() and stock.claim(path)
    try:
        journal = DuckJournal(path, database=database, fresh=fresh)
    except JournalLocked as exc:  # the caller waits and tries again
        if "already attached" not in str(exc) or not _let_go_of_stale(path):
            raise
        journal = DuckJournal(path, database=database)
    _OPEN.add(journal)
    return journal


def _let_go_of_stale(path: Path) -> bool:
    """Close a journal this host left open at ``path`` (if any): nobody uses it, as a
    placement evicts the instance's earlier runner first. A DETACH alone would not
    free the file while that journal's cursor is open."""
    stale = [j for j in list(_OPEN) if j.path == path and j._shared]
    for journal in stale:
        log.warning("journal %s was still open on this host: closed", path)
        _OPEN.discard(journal)
        journal.close()
    return bool(stale)


async def _open_journal_in_thread(
    path: Path, database: duckdb.DuckDBPyConnection, stock: JournalStock | None = None
) -> DuckJournal:
    """Open a journal off the loop, waiting for an earlier holder to let go of it."""
    deadline = time.monotonic() + JOURNAL_LOCK_WAIT
    while True:
        try:
            return await asyncio.to_thread(_open_journal, path, database, stock)
        except JournalLocked:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def _refill_failed(refill: asyncio.Future[int]) -> None:
    if not refill.cancelled() and refill.exception() is not None:  # new journals: made on claim
        log.warning("could not stock empty journals: %s", refill.exception())


async def _quietly(work: Coroutine[Any, Any, None]) -> None:
    """Warm-up work whose failure the run itself reports (it awaits the same future)."""
    with contextlib.suppress(Exception):
        await work


class InstanceHost:
    """A Ray actor holding many instance runners by instance key (see module doc)."""

    def __init__(self, name: str, lag_threshold: float = LAG_THRESHOLD) -> None:
        self.name = name
        self.watch = LoopWatch(name, lag_threshold)
        self._runners: dict[Key, HostedRunner] = {}
        self._evicting: dict[Key, asyncio.Future[None]] = {}
        self._started = False
        # One DuckDB instance for every journal on this host (each file attached).
        self._database = journal_database()
        # Letting go of a journal does not checkpoint it: its write-ahead log holds
        # every commit already, and a checkpoint cost ~5-12 ms of CPU per instance
        # and grew a 1-step journal from 15 KB to 124 KB (16 KiB blocks per table).
        # A log past WAL_CHECKPOINT_BYTES is folded in, to keep reopening cheap.
        self._database.execute("PRAGMA disable_checkpoint_on_shutdown")
        self._stocks: dict[Path, JournalStock] = {}  # empty journals, per storage folder
        self._refilling: dict[Path, asyncio.Future[int]] = {}
        # Placements by token: the ones a call is waiting for (``when_placed``), and
        # the last ones taken (a call naming one of those is not waited for again).
        self._arrivals: dict[str, asyncio.Future[None]] = {}
        self._taken: OrderedDict[str, None] = OrderedDict()

    def _start(self) -> None:
        # Ray builds the actor before its loop runs: start on the first call.
        if not self._started:
            self._started = True
            loop = asyncio.get_running_loop()
            loop.set_default_executor(ThreadPoolExecutor(STEP_THREADS, "pyflow-step"))
            self.watch.start(loop)

    # -- placement --------------------------------------------------------

    async def warm(self, storage: str) -> int:
        """Get ready ahead of need (the pool's first call to a new host): start the
        loop watch and fill a journal stock for ``storage`` (if named); the pid."""
        self._start()
        if storage:
            self._stock(Path(storage))
        return os.getpid()

    async def place(self, setup: InstanceSetup, token: str) -> None:
        """Take an instance (a call, no process start); a stale runner of it goes first."""
        self._start()
        key = (setup.workflow, setup.instance_id)
        while key in self._evicting:
            await asyncio.shield(self._evicting[key])
        if key in self._runners:
            await self.evict(key)
        stock = self._stock(Path(setup.journal_path).parents[2])  # <storage>/journals/<wf>/
        runner = self._runners[key] = HostedRunner(setup, token, self._database, stock)
        self._arrived(token)
        # Open its journal now, while the supervisor's run call is on its way.
        context = contextvars.copy_context()
        context.run(CURRENT_INSTANCE.set, key)
        context.run(asyncio.get_running_loop().create_task, _quietly(runner.prepare()))

    async def run_placed(
        self, setup: InstanceSetup, token: str, request: RunRequest
    ) -> InstanceOutcome:
        """Take an instance and run it: one call per activation (not place, then run).
        When the run ends the host lets go of the instance itself (closing its journal
        after the answer is sent), so the supervisor has no eviction to send either."""
        key = (setup.workflow, setup.instance_id)
        await self.place(setup, token)
        try:
            outcome = await self.run(key, request)
        except asyncio.CancelledError:
            raise  # the caller went away, not the run: a new supervisor adopts it
        except BaseException:
            self._let_go(key, token)
            raise
        runner = self._runners.get(key)
        if outcome.kind.is_final and runner is not None and runner._journal is not None:
            with contextlib.suppress(PyflowError):  # else the fold reads the file
                outcome.history = FinishedJournal.of(runner._journal).to_json()
        self._let_go(key, token)
        return outcome

    async def when_placed(self, key: Key, token: str) -> None:
        """Return once placement ``token`` of the instance is here: a call that may
        overtake its ``run_placed`` (Ray does not order an async actor's calls) waits
        for it first. Raises ``InstanceActorGone`` if it was here and left, or never came."""
        runner = self._runners.get(key)
        if runner is not None and runner.token == token:
            return
        if token in self._taken:
            raise InstanceActorGone(f"instance {'/'.join(key)} left host {self.name}")
        arrival = self._arrivals.setdefault(token, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(arrival), ARRIVAL_WAIT)
        except asyncio.TimeoutError:
            if self._arrivals.get(token) is arrival:
                del self._arrivals[token]
            raise InstanceActorGone(f"instance {'/'.join(key)} never came to {self.name}") from None

    def _arrived(self, token: str) -> None:
        self._taken[token] = None
        while len(self._taken) > TOKENS_KEPT:
            self._taken.popitem(last=False)
        arrival = self._arrivals.pop(token, None)
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    async def evict(self, key: Key, token: str | None = None) -> bool:
        """Stop and forget an instance, closing its journal (``token``: only that placement)."""
        closing = self._let_go(key, token)
        if closing is None:
            return False
        await closing
        return True

    def _let_go(self, key: Key, token: str | None) -> asyncio.Future[None] | None:
        """Forget the instance now (a placement arriving next waits for the close) and
        close its runner in the background; ``None`` if it is not (or no longer) here."""
        runner = self._runners.get(key)
        if runner is None or (token is not None and runner.token != token):
            return None
        del self._runners[key]
        done = self._evicting[key] = asyncio.get_running_loop().create_future()
        return asyncio.ensure_future(self._close(key, runner, done))

    async def _close(self, key: Key, runner: HostedRunner, done: asyncio.Future[None]) -> None:
        try:
            await runner.close()
        finally:
            del self._evicting[key]
            done.set_result(None)
        if runner._stock is not None:
            self._refill(runner._stock)  # the instance's work is done: make the next journal

    def _stock(self, storage: Path) -> JournalStock:
        stock = self._stocks.get(storage)
        if stock is None:
            stock = self._stocks[storage] = JournalStock(storage, self._database)
            self._refill(stock)
        return stock

    def _refill(self, stock: JournalStock) -> None:
        """Make the stock's missing journals in a thread (one refill at a time)."""
        running = self._refilling.get(stock.folder)
        if running is None or running.done():
            refill = asyncio.ensure_future(asyncio.to_thread(stock.refill))
            refill.add_done_callback(_refill_failed)
            self._refilling[stock.folder] = refill

    def keys(self) -> list[Key]:
        return list(self._runners)

    def pinned(self) -> list[Key]:
        """The instances held live until their alarm (pre-activated, not unpinned)."""
        return [key for key, runner in self._runners.items() if runner.pinned]

    def unpin(self, key: Key) -> bool:
        """Let a pre-activated instance hibernate again (False: not here, or not pinned)."""
        runner = self._runners.get(key)
        if runner is None or not runner.pinned:
            return False
        runner.unpin()
        return True

    def load(self) -> HostLoad:
        import ray

        return HostLoad(
            name=self.name,
            pid=os.getpid(),
            node_id=ray.get_runtime_context().get_node_id() if ray.is_initialized() else "",
            instances=len(self._runners),
            running=sum(1 for r in self._runners.values() if r.running),
            lag=round(self.watch.worst_lag, 4),
            stalls=list(self.watch.stalls),
        )

    def pid(self, key: Key | None = None) -> int:
        return os.getpid()

    async def close(self) -> None:
        """Evict everything and stop the loop watch (tests; a host otherwise just dies)."""
        for key in list(self._runners):
            await self.evict(key)
        self.watch.stop()
        await asyncio.gather(*self._refilling.values(), return_exceptions=True)
        for stock in self._stocks.values():
            stock.remove()

    # -- the instance's commands, by key ------------------------------------

    def _runner(self, key: Key) -> HostedRunner:
        runner = self._runners.get(key)
        if runner is None:
            raise InstanceActorGone(f"instance {'/'.join(key)} is not on host {self.name}")
        return runner

    async def prepare(self, key: Key) -> None:
        token = CURRENT_INSTANCE.set(key)
        try:
            await self._runner(key).prepare()
        finally:
            CURRENT_INSTANCE.reset(token)

    async def run(self, key: Key, request: RunRequest) -> InstanceOutcome:
        """Run the instance placed here; a run in progress is a restarted supervisor's
        adoption: its run goes on, and the supervisor is told again of its wait."""
        token = CURRENT_INSTANCE.set(key)  # the run task and its steps inherit it
        try:
            runner = self._runner(key)
            runner.report_wait_again()
            return await runner.run(request)
        finally:
            CURRENT_INSTANCE.reset(token)

    async def deliver(self, key: Key, events: list[EventRecord]) -> bool:
        runner = self._runners.get(key)
        return False if runner is None else await runner.deliver(events)

    async def pause(self, key: Key) -> None:
        await self._runner(key).pause()

    async def unpause(self, key: Key) -> None:
        await self._runner(key).unpause()

    async def terminate(self, key: Key, rollback: bool = False) -> None:
        await self._runner(key).terminate(rollback)

    async def cancel(self, key: Key) -> None:
        await self._runner(key).cancel()

    async def describe(self, key: Key) -> list[StepInfo]:
        return await self._runner(key).describe()
