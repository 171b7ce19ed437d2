"""``/workers/<name>/...``: the user's Worker (``fetch``), every method, no API token.

As on Cloudflare a Worker is the user's own app and does its own auth, so
these routes take no ``Authorization`` header; ``pyflow dev`` says at start
that they are public when it listens beyond loopback. The Worker sees its own
root: ``/workers/<name>/orders?id=1`` reaches ``fetch`` as ``/orders?id=1``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pyflow_actors.errors import PayloadTooLarge, WorkerNotFound

from ..worker_host import WorkerHost
from . import max_body_bytes

router = APIRouter(tags=["workers"])

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@router.api_route("/workers/{worker_name}", methods=METHODS, include_in_schema=False)
async def worker_root(request: Request, worker_name: str) -> Response:
    return await worker_fetch(request, worker_name, "")


@router.api_route("/workers/{worker_name}/{path:path}", methods=METHODS, include_in_schema=False)
async def worker_fetch(request: Request, worker_name: str, path: str) -> Response:
    """Hand the request to the Worker's ``fetch`` and return its ``Response``."""
    host: WorkerHost | None = getattr(request.app.state, "worker", None)
    if host is None or host.name != worker_name:
        here = f"the Worker here is {host.name!r}" if host else "no Worker is declared"
        raise WorkerNotFound(
            f"no Worker {worker_name!r} ({here}; declare one with name and main "
            "at the top of pyflow.toml)"
        )
    limit = max_body_bytes(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return await host.fetch(request, path, body)
