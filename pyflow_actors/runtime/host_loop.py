"""A shared host's event-loop watch: its lag, and the instance that blocked it.

An async step that blocks (``time.sleep``, CPU work without ``await``) stalls
every neighbour on a shared host's loop. :class:`LoopWatch` measures the
loop's lag and names the culprit, the instance (and code) running when the
loop stalled; the host reports it in its load figures (``host.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pyflow.host")

Key = tuple[str, str]  # (workflow, instance id)
BEAT_SECONDS = 0.05  # how often the loop watch's heartbeat runs
LAG_THRESHOLD = 0.25  # a loop blocked longer than this is a stall, reported with its culprit
STALLS_KEPT = 20
MIN_WAIT = BEAT_SECONDS  # the watchdog's sleep while a stall goes on (as before: 20 a second)

# The instance whose code a task runs: set around a run, inherited by every
# task and thread the run starts (asyncio copies the context).
CURRENT_INSTANCE: contextvars.ContextVar[Key | None] = contextvars.ContextVar(
    "pyflow_current_instance", default=None
)


@dataclass(frozen=True)
class LoopStall:
    """The host's loop was blocked for ``seconds`` by ``instance`` running ``where``."""

    seconds: float
    instance: Key | None  # None: not instance code (the host itself, or unknown)
    where: str  # innermost Python frame: "function (file:line)"
    at: float  # epoch seconds the stall was seen


class LoopWatch:
    """Measures an event loop's lag and names the instance that blocked it.

    A heartbeat task on the loop records when it last ran; a watchdog thread
    sees a heartbeat that is late by more than ``threshold`` and samples what
    the loop thread is running at that moment: the current task (mapped to
    its instance through the task factory) and the innermost Python frame.
    """

    def __init__(self, name: str, threshold: float = LAG_THRESHOLD) -> None:
        self.name, self.threshold = name, threshold
        self.stalls: deque[LoopStall] = deque(maxlen=STALLS_KEPT)
        self.worst_lag = 0.0
        self._owners: weakref.WeakKeyDictionary[asyncio.Future[Any], Key] = (
            weakref.WeakKeyDictionary()
        )
        self._beat = time.monotonic()
        self._suspect: tuple[Key | None, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._stop = threading.Event()
        self._tasks: list[asyncio.Future[None]] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch ``loop`` (called on it); tasks created from now on are attributed."""
        self._loop, self._loop_thread = loop, threading.get_ident()
        loop.set_task_factory(self.task_factory)
        self._tasks.append(asyncio.ensure_future(self._heartbeat()))
        threading.Thread(target=self._watchdog, name=f"{self.name}-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()

    def task_factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        context = context if context is not None else contextvars.copy_context()
        # The task takes the context current at its creation (Task's own ``context=``
        # argument is Python 3.11+).
        task: asyncio.Task[Any] = context.run(asyncio.Task, coro, loop=loop)
        owner = context.get(CURRENT_INSTANCE)
        if owner is not None:
            self._owners[task] = owner
        return task

    async def _heartbeat(self) -> None:
        while True:
            expected = time.monotonic() + BEAT_SECONDS
            self._beat = expected
            await asyncio.sleep(BEAT_SECONDS)
            lag = time.monotonic() - expected
            self.worst_lag = max(self.worst_lag * 0.9, lag)  # decays over a few seconds
            if lag > self.threshold:
                self._stalled(lag)

    def _stalled(self, lag: float) -> None:
        instance, where = self._suspect or (None, "unknown")
        self._suspect = None
        stall = LoopStall(round(lag, 3), instance, where, time.time())
        self.stalls.append(stall)
        culprit = "/".join(instance) if instance else "no instance"
        log.warning("host %s: event loop blocked %.2fs by %s at %s", self.name, lag, culprit, where)

    def _watchdog(self) -> None:
        # Wakes when the heartbeat would be ``threshold`` late, not every beat: a
        # stall is sampled as soon as it counts, and a healthy loop costs the
        # process ~4 wake-ups a second here instead of 20 (each one a GIL hand-off
        # with the loop thread, see docs/performance-notes.md).
        while not self._stop.wait(max(self._beat + self.threshold - time.monotonic(), MIN_WAIT)):
            late = time.monotonic() - self._beat
            if late > self.threshold and self._suspect is None:
                self._suspect = self._sample()

    def _sample(self) -> tuple[Key | None, str]:
        """What the loop thread runs now: its task's instance and innermost frame."""
        task = asyncio.current_task(self._loop) if self._loop is not None else None
        owner = self._owners.get(task) if task is not None else None
        frame = sys._current_frames().get(self._loop_thread)
        where = "unknown"
        if frame is not None:
            code = frame.f_code
            where = f"{code.co_name} ({os.path.basename(code.co_filename)}:{frame.f_lineno})"
        return owner, where
