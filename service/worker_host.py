"""The gateway's host for the user's Worker: its ``env``, its requests, its cron fires.

One Worker per ``pyflow.toml`` (wrangler's top-level ``name`` and ``main``).
Its ``self.env`` holds a binding per workflow, through the gateway's own client
(so ``await self.env.MY_WORKFLOW.create(...)`` works as in a workflow), and
the ``[vars]``. Starlette requests become :class:`pyflow_actors.worker.Request`
and the Worker's :class:`~pyflow_actors.worker.Response` goes back as a
starlette response.

Crons: :meth:`WorkerHost.run_crons` fires ``scheduled`` on ``[triggers]
crons`` while the gateway runs. Each fire is first claimed from the engine
(``transport.claim_cron_fire``): the supervisor's schedules record the last
fire of each cron, so a fire runs once however many gateways there are, and
after a restart the latest fire missed while down runs once. An engine whose
supervisor keeps no schedules answers None: the fire then runs unclaimed (one
gateway: once; while down: skipped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import Request as HttpRequest
from fastapi import Response as HttpResponse

from pyflow_actors.client.api import AsyncClient, AsyncWorkflow
from pyflow_actors.config import EngineConfig, WorkerSpec
from pyflow_actors.cron import due_fires, next_fire
from pyflow_actors.entrypoint import Env
from pyflow_actors.errors import PyflowError, WorkerFailed
from pyflow_actors.worker import ExecutionContext, Request, ScheduledEvent, Worker

log = logging.getLogger("pyflow.worker")


class WorkerHost:
    """The loaded Worker, its ``env`` and the tasks it left running (``ctx.wait_until``)."""

    def __init__(self, spec: WorkerSpec, client: AsyncClient, config: EngineConfig) -> None:
        self.spec, self.name = spec, spec.name
        self.worker = Worker.load(spec.name, spec.main)
        values: dict[str, Any] = dict(config.vars)
        for workflow in config.workflows:
            values[workflow.binding] = AsyncWorkflow(
                client.transport, workflow.name, workflow.binding
            )
        self.env = Env(values)
        self.transport = client.transport
        self.background: set[asyncio.Future[Any]] = set()

    async def fetch(self, http: HttpRequest, path: str, body: bytes) -> HttpResponse:
        """Run the Worker's ``fetch`` on ``http``, seen at the Worker's own root ``/path``."""
        query = f"?{http.url.query}" if http.url.query else ""
        request = Request(
            f"{http.url.scheme}://{http.url.netloc}/{path}{query}",
            method=http.method,
            headers=[(k, v) for k, v in http.headers.items()],
            body=body,
        )
        try:
            response = await self.worker.fetch(request, self.env, self._context())
        except WorkerFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            log.exception("worker %r: fetch %s %s raised", self.name, http.method, path)
            raise WorkerFailed(
                f"worker {self.name!r} raised {type(exc).__name__}; see the gateway log"
            ) from exc
        return HttpResponse(
            content=response.body,
            status_code=response.status,
            headers=dict(response.headers.items()),
        )

    async def fire(self, cron: str, at: float) -> None:
        """Run ``scheduled`` once for the fire of ``cron`` at ``at`` (epoch seconds)."""
        event = ScheduledEvent(cron=cron, scheduledTime=at * 1000.0)
        ctx = self._context()
        try:
            await self.worker.scheduled(event, self.env, ctx)
        except Exception:  # noqa: BLE001 - logged; the next fire still happens
            log.exception("worker %r: scheduled (cron %r) raised", self.name, cron)

    async def run_crons(self, clock: Any = time.time) -> None:
        """Fire every ``[triggers] crons`` expression until cancelled (not durable: see above)."""
        if not self.spec.crons or not self.worker.has_scheduled:
            return
        await asyncio.gather(*(self._cron_loop(cron, clock) for cron in self.spec.crons))

    async def _cron_loop(self, cron: str, clock: Any) -> None:
        now = clock()
        last = await self._engine_call("last_cron_fire", cron)
        if isinstance(last, float | int):  # the latest fire missed while down, once
            for missed in due_fires(cron, float(last), now):
                await self._fire_claimed(cron, missed)
        at = next_fire(cron, now)
        while True:
            await asyncio.sleep(max(0.0, at - clock()))
            await self._fire_claimed(cron, at)
            at = next_fire(cron, at)

    async def _fire_claimed(self, cron: str, at: float) -> None:
        """Fire unless the engine says this fire already ran (another gateway, or before)."""
        claimed = await self._engine_call("claim_cron_fire", cron, at)
        if claimed is False:
            return
        self._keep(asyncio.ensure_future(self.fire(cron, at)))

    async def _engine_call(self, method: str, cron: str, *args: float) -> Any:
        """The transport's schedule method, if it has one; False when the engine fails."""
        call = getattr(self.transport, method, None)
        if call is None:
            return None
        try:
            return await call(self.name, cron, *args)
        except PyflowError as exc:  # engine away: skip this fire rather than run it twice
            log.warning("worker %r: cron %r: %s: %s", self.name, cron, exc.code, exc.message)
            return False

    def _context(self) -> ExecutionContext:
        return ExecutionContext(tasks=self.background)

    def _keep(self, task: asyncio.Future[Any]) -> None:
        self.background.add(task)
        task.add_done_callback(self.background.discard)
