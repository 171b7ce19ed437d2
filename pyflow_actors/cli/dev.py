"""``pyflow dev``: the engine (an embedded local Ray, or a Ray cluster) and the
gateway in one process, until Ctrl-C.

It checks the configuration and the workflow classes before anything starts,
holds the storage's lock, keeps the generated token with the storage, prints
where the gateway listens, publishes the session so the CLI run in the
project's folder finds it (``dev_session``), and shows what workflows print.
Ray, uvicorn and the gateway are imported only when the command runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from .. import dev_session
from ..errors import PyflowError
from .output import err, fail, out


def dev(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="pyflow.toml (default: ./pyflow.toml if it exists)."
    ),
    port: int | None = typer.Option(None, help="Port (default: \\[engine] port or 8787)."),
    host: str | None = typer.Option(None, help="Host (default: \\[engine] host or 127.0.0.1)."),
    storage: Path | None = typer.Option(None, help="Storage folder (default: \\[engine] storage)."),
    address: str | None = typer.Option(
        None,
        help="Join a running Ray cluster instead of starting a local Ray: its address "
        "(host:port) or 'auto' (the cluster `ray start` runs on this node). The supervisor "
        "is placed on the head node; run this there too, next to it.",
    ),
    new_token: bool = typer.Option(
        False, "--new-token", help="Replace the token kept with the storage by a new one."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Ray's own log lines too."),
) -> None:
    """Start the engine (an embedded local Ray, or in a Ray cluster with --address) and
    the gateway; Ctrl-C stops both (in a cluster the engine keeps running).

    What workflows print appears here, prefixed ``workflow/id [step]``. The
    generated token is kept with the storage (reused on the next start), and
    the CLI run in this project's folder finds this engine with no exports."""
    from ..config import load_config

    try:
        from service.auth import check_bind, configured_tokens, default_account
    except ImportError:  # pragma: no cover - installed without the service package
        raise fail("the gateway (package 'service') is not installed") from None

    if config is None and Path("pyflow.toml").is_file():
        config = Path("pyflow.toml")
    try:
        engine_config = load_config(
            config,
            storage=str(storage.resolve()) if storage is not None else None,
            host=host,
            port=port,
        )
        configured = configured_tokens(engine_config)
        check_bind(engine_config.host, configured)
        if engine_config.worker is not None:  # its import errors, before the engine starts
            from ..worker import Worker

            Worker.load(engine_config.worker.name, engine_config.worker.main)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    _check_workflows(config, engine_config)
    lock = dev_session.StorageLock(Path(engine_config.storage))
    try:
        lock.acquire()
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    except OSError as exc:
        raise fail(f"cannot use storage {str(engine_config.storage)!r}: {exc}") from None
    try:
        sock = _listen(engine_config.host, engine_config.port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {engine_config.host}:{engine_config.port}: {exc.strerror or exc}"
        ) from None
    storage_path = Path(engine_config.storage)
    tokens = configured or (dev_session.dev_token(storage_path, default_account(), new_token),)
    dev_session.quiet_ray(verbose)

    # Ctrl-C and SIGTERM stop the server gracefully (uvicorn), then the engine below.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)

    from ..runtime.local import start_local

    where = f"Ray cluster at {address}" if address else "local Ray"
    err.print(f"starting the engine ({where})...", style="dim")
    try:
        engine = start_local(engine_config, ray_address=address)
    except PyflowError as exc:  # e.g. storage.unavailable: a read-only or full folder
        raise fail(f"{exc.code}: {exc.message}") from None
    # start_local (Ray) may install its own handlers; ours must be the ones uvicorn restores.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    from ..instance_logs import ConsoleFollower

    follower = ConsoleFollower(storage_path, sys.stdout)
    try:
        url = _banner(engine_config, sock, tokens, generated=not configured)
        dev_session.publish(storage_path, url, tokens[0].accounts[0])
        follower.start()
        asyncio.run(_serve(engine, engine_config, tokens, sock))
    finally:
        err.print("stopping the engine...", style="dim")
        follower.stop()
        dev_session.withdraw(storage_path)
        engine.shutdown()
        sock.close()
        lock.release()
    err.print("stopped.", style="dim")


def _check_workflows(config: Path | None, engine_config: Any) -> None:
    """Warn about unused keys; refuse to start, one line per problem, on a bad class."""
    from .. import config_check

    warnings, problems = config_check.check(config, engine_config)
    for warning in warnings:
        err.print(f"warning: {escape(warning)}", style="yellow")
    for problem in problems:
        err.print(f"[red]error:[/red] config.invalid: {escape(problem)}")
    if problems:
        raise typer.Exit(1)


def _ignore(signum: int, frame: Any) -> None:
    """Signals are handled by the server while it runs; after that they are late."""


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(config: Any, sock: socket.socket, tokens: Any, *, generated: bool) -> str:
    """Print where the gateway listens and how to reach it; return its URL."""
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    workflows = ", ".join(w.name for w in config.workflows) or "none (pass --config pyflow.toml)"
    out.print(f"[bold green]pyflow dev[/bold green] gateway on [bold]{url}[/bold]")
    out.print(f"  dashboard: {url}/dash (sign in with the API token)")
    out.print(f"  workflows: {escape(workflows)}")
    out.print(f"  storage:   {escape(str(config.storage))}")
    if generated:
        token = tokens[0]
        kept = Path(config.storage) / dev_session.TOKEN_FILE
        out.print(f"  account:   {escape(token.accounts[0])}")
        out.print(f"  token:     {token.token}")
        out.print(f"             (kept in {escape(str(kept))}; --new-token replaces it)")
        out.print("\n  In this project's folder the CLI finds this engine by itself; elsewhere:")
        out.print(
            f"  export PYFLOW_URL={url} PYFLOW_TOKEN={token.token} "
            f"PYFLOW_ACCOUNT={escape(token.accounts[0])}"
        )
    else:
        accounts = sorted({a for t in tokens for a in t.accounts})
        out.print(f"  accounts:  {', '.join(accounts)} (tokens from configuration)")
    if config.worker is not None:
        _worker_banner(config, url)
    out.print("  Ctrl-C to stop. What workflows print appears below.\n")
    sys.stdout.flush()
    return url


def _worker_banner(config: Any, url: str) -> None:
    """Where the Worker answers, and that its routes take no token (loud beyond loopback)."""
    from service.auth import is_loopback

    worker = config.worker
    crons = f"  (crons: {', '.join(worker.crons)})" if worker.crons else ""
    out.print(f"  worker:    {url}/workers/{worker.name}/{crons}")
    if not is_loopback(config.host):
        out.print(
            f"  [bold yellow]warning:[/bold yellow] /workers/{worker.name}/ is public: "
            "Worker routes take no API token (as on Cloudflare, the Worker does its own auth)"
        )


# Limits at the door (bodies are bounded per route, headers by the app: service/):
MAX_HEADER_BYTES = 64 * 1024  # headers still incomplete past this: 400, closed
MAX_CONNECTIONS = 1000  # connections and tasks at once; over it: 503
KEEP_ALIVE_SECONDS = 5  # an idle connection is closed after this


def server_config(app: Any, log_level: str = "warning") -> Any:
    """uvicorn's config for the gateway, with the header and connection limits above."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="off",
        access_log=False,
        http="h11",  # the parser whose header limit is set here
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


async def _serve(engine: Any, config: Any, tokens: Any, sock: socket.socket) -> None:
    import uvicorn

    from service.app import create_app

    client = await engine.async_client()
    app = create_app(client, config, tokens=tokens)
    server = uvicorn.Server(server_config(app, os.environ.get("PYFLOW_LOG_LEVEL", "warning")))
    crons = asyncio.ensure_future(app.state.worker.run_crons()) if app.state.worker else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if crons is not None:
            crons.cancel()
