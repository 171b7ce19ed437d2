"""The gateway: a FastAPI app in front of the engine, wire-compatible with
Cloudflare's Workflows REST API v4.

.. code-block:: python

    engine = start_local("pyflow.toml")
    app = create_app(await engine.async_client(), engine.config)
    # uvicorn.run(app, host="127.0.0.1", port=8787)

The app holds an :class:`~pyflow_actors.client.AsyncClient` (any transport)
and knows nothing of Ray or DuckDB.
"""

from __future__ import annotations

from fastapi import FastAPI

from pyflow_actors.client.api import AsyncClient
from pyflow_actors.config import EngineConfig, TokenSpec

from . import dash, graphql, metrics
from .auth import TokenStore, configured_tokens
from .envelope import Envelope
from .errors import install_error_handlers
from .request_limits import HeaderSizeLimit
from .routers import (
    deletions,
    event_subscriptions,
    instances,
    logs,
    queues,
    subscribe,
    versions,
    workers,
    workflows,
)
from .worker_host import WorkerHost


def create_app(
    client: AsyncClient,
    config: EngineConfig,
    *,
    tokens: tuple[TokenSpec, ...] | None = None,
) -> FastAPI:
    """The gateway app for ``client``'s engine.

    ``tokens`` are the API tokens it accepts; by default those of ``config``
    (``[[tokens]]``) and of ``PYFLOW_TOKEN``/``PYFLOW_ACCOUNT``. At least one is
    required.
    """
    app = FastAPI(
        title="pyflow-actors gateway",
        summary="Cloudflare Workflows REST API v4, served by pyflow-actors",
        version="0.1.0",
    )
    app.state.client = client
    app.state.config = config
    app.state.tokens = TokenStore(configured_tokens(config) if tokens is None else tokens)
    install_error_handlers(app)
    app.add_middleware(HeaderSizeLimit)
    app.include_router(workflows.router)
    app.include_router(deletions.router)  # before instances: "/batch/delete" is not an id
    app.include_router(instances.router)
    app.include_router(versions.router)
    app.include_router(logs.router)
    # The user's Worker (wrangler's name/main): its own app, no API token (service/routers/workers.py).
    app.state.worker = WorkerHost(config.worker, client, config) if config.worker else None
    app.include_router(workers.router)
    app.include_router(subscribe.router)
    app.include_router(queues.router)
    app.include_router(event_subscriptions.router)
    app.include_router(graphql.router)
    app.include_router(metrics.router)
    dash.install(app)  # the dashboard at /dash (service/dash)

    @app.get("/health", include_in_schema=False)
    async def health() -> Envelope[dict[str, str]]:
        """Liveness (no token needed, says nothing about workflows)."""
        return Envelope[dict[str, str]](result={"status": "ok"})

    return app
