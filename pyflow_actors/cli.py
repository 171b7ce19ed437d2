"""``pyflow``: the command line, mirroring ``wrangler workflows``.

.. code-block:: sh

    pyflow dev --config examples/pyflow.toml        # engine (local Ray) + gateway
    pyflow list
    pyflow trigger hello '{"name": "world"}'
    pyflow instances list hello --status complete
    pyflow instances describe hello latest
    pyflow instances send-event onboarding user-42 --type approved --payload '{"by": "ops"}'

Every command but ``dev`` talks to the gateway over HTTP: ``--url``,
``--token`` and ``--account`` (or ``PYFLOW_URL``, ``PYFLOW_TOKEN``,
``PYFLOW_ACCOUNT``). ``--json`` prints the REST result as JSON. On failure a
command prints one line (``error: <code>: <message>``) and exits with 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .client.http_transport import HttpTransport, rest_path
from .errors import PyflowError

DEFAULT_URL = "http://127.0.0.1:8787"
NO_BODY = object()

app = typer.Typer(
    help="pyflow: durable workflows on Ray (commands mirror `wrangler workflows`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
instances_app = typer.Typer(
    help="Instance commands: list, describe, send-event, terminate, restart, pause, resume.",
    no_args_is_help=True,
)
app.add_typer(instances_app, name="instances")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print the REST result as JSON.")


# ---------------------------------------------------------------------------
# connection and output


@dataclass
class Gateway:
    """Where the commands send their REST calls."""

    url: str
    token: str | None
    account: str | None

    def call(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        body: Any = NO_BODY,
    ) -> tuple[Any, dict[str, Any] | None]:
        """One REST call: ``(result, result_info)``; raises :class:`PyflowError`."""

        async def go() -> tuple[Any, dict[str, Any] | None]:
            transport = HttpTransport(self.url, token=self.token, account=self.account)
            try:
                return await transport.request(
                    method, path, params=params, body=body, send_body=body is not NO_BODY
                )
            finally:
                await transport.close()

        return asyncio.run(go())


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(1)


def gateway(ctx: typer.Context) -> Gateway:
    return ctx.find_root().obj


def run(ctx: typer.Context, method: str, path: str = "", **kwargs: Any) -> Any:
    try:
        return gateway(ctx).call(method, path, **kwargs)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def when(value: str | None, *, date: bool = True) -> str:
    """An ISO time from the API as local time, to the second."""
    if not value:
        return "-"
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def took(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    seconds = (
        dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        - dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


STATUS_STYLE = {
    "complete": "green",
    "errored": "red",
    "terminated": "red",
    "running": "cyan",
    "waiting": "yellow",
    "waitingForPause": "yellow",
    "paused": "magenta",
    "queued": "blue",
}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def parse_json_argument(text: str | None, what: str) -> Any:
    if text is None or text == "":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{what} is not valid JSON: {exc}") from None


def resolve_instance(ctx: typer.Context, name: str, instance_id: str) -> str:
    """``latest`` means the most recently created instance of the workflow."""
    if instance_id != "latest":
        return instance_id
    result, _ = run(
        ctx,
        "GET",
        rest_path(name, "instances"),
        params={"per_page": 1, "direction": "desc"},
    )
    if not result:
        raise fail(f"workflow {name!r} has no instances")
    return result[0]["id"]


@app.callback()
def main_options(
    ctx: typer.Context,
    url: str = typer.Option(DEFAULT_URL, envvar="PYFLOW_URL", help="Gateway URL."),
    token: str | None = typer.Option(None, envvar="PYFLOW_TOKEN", help="API token."),
    account: str | None = typer.Option(
        None, envvar="PYFLOW_ACCOUNT", help="Account id (default: local)."
    ),
) -> None:
    ctx.obj = Gateway(url=url, token=token, account=account)


# ---------------------------------------------------------------------------
# workflows


@app.command("list")
def list_workflows(
    ctx: typer.Context,
    page: int = typer.Option(1, min=1, help="Page to show."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=1000, help="Workflows per page."),
    as_json: bool = JsonOption,
) -> None:
    """List the workflows."""
    result, info = run(ctx, "GET", params={"page": page, "per_page": per_page})
    if as_json:
        return print_json(result)
    if not result:
        out.print("No workflows.")
        return
    table = Table()
    table.add_column("Name", no_wrap=True)
    table.add_column("Class", overflow="fold")
    table.add_column("Binding", overflow="fold")
    table.add_column("Instances")
    table.add_column("Modified", no_wrap=True)
    for w in result:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(w["instances"].items())) or "-"
        table.add_row(
            w["name"],
            f"{w['script_name']}:{w['class_name']}",
            w.get("binding", ""),
            counts,
            when(w["modified_on"]),
        )
    out.print(table)
    if info and info.get("total_pages", 1) > 1:
        out.print(f"page {info['page']} of {info['total_pages']} ({info['total_count']} workflows)")


@app.command("describe")
def describe_workflow(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    as_json: bool = JsonOption,
) -> None:
    """Describe a workflow: its class, binding and instance counts."""
    w, _ = run(ctx, "GET", rest_path(name))
    if as_json:
        return print_json(w)
    table = Table.grid(padding=(0, 2))
    for label, value in (
        ("Name", w["name"]),
        ("Id", w["id"]),
        ("Class", f"{w['script_name']}:{w['class_name']}"),
        ("Binding", w.get("binding", "")),
        ("Created", when(w["created_on"])),
        ("Modified", when(w["modified_on"])),
    ):
        table.add_row(f"[bold]{label}[/bold]", value)
    out.print(table)
    counts = Table("Status", "Instances")
    for status, n in sorted(w["instances"].items()):
        counts.add_row(styled(status), str(n))
    if w["instances"]:
        out.print(counts)
    else:
        out.print("No instances.")


@app.command("delete")
def delete_workflow(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a workflow and all its instances."""
    result, _ = run(ctx, "DELETE", rest_path(name))
    if as_json:
        return print_json(result)
    out.print(f"Deleted workflow {name} and its instances.")


@app.command("trigger")
def trigger(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    params: str = typer.Argument("", help="Params for the instance, as a JSON string."),
    instance_id: str | None = typer.Option(
        None, "--id", help="Instance id (default: a random UUID)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Trigger a workflow: create a new instance."""
    body: dict[str, Any] = {"params": parse_json_argument(params, "PARAMS")}
    if instance_id is not None:
        body["instance_id"] = instance_id
    result, _ = run(ctx, "POST", rest_path(name, "instances"), body=body)
    if as_json:
        return print_json(result)
    out.print(
        f"Created instance [bold]{result['id']}[/bold] of {name} ({styled(result['status'])})."
    )


# ---------------------------------------------------------------------------
# instances


@instances_app.command("list")
def list_instances(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    status: str | None = typer.Option(
        None, help="Only instances with this status (queued, running, paused, errored, ...)."
    ),
    page: int = typer.Option(1, min=1, help="Page to show."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=1000, help="Instances per page."),
    reverse: bool = typer.Option(False, "--reverse", help="Oldest first."),
    as_json: bool = JsonOption,
) -> None:
    """List the instances of a workflow, newest first."""
    params = {
        "status": status,
        "page": page,
        "per_page": per_page,
        "direction": "asc" if reverse else "desc",
    }
    result, info = run(ctx, "GET", rest_path(name, "instances"), params=params)
    if as_json:
        return print_json(result)
    if not result:
        out.print("No instances.")
        return
    table = Table()
    table.add_column("Id", overflow="fold")
    table.add_column("Status", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    table.add_column("Took", no_wrap=True)
    table.add_column("Error")
    for i in result:
        error = i.get("error")
        table.add_row(
            i["id"],
            styled(i["status"]),
            when(i["created_on"]),
            took(i.get("started_on"), i.get("ended_on")),
            short(f"{error['name']}: {error['message']}", 60) if error else "",
        )
    out.print(table)
    if info:
        out.print(
            f"page {info['page']} of {info['total_pages']} ({info['total_count']} instances)",
            style="dim",
        )


def _step_rows(steps: list[dict[str, Any]], show_output: bool, limit: int) -> Table:
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("Type", no_wrap=True)
    table.add_column("Name", overflow="fold")
    table.add_column("Start", no_wrap=True)
    table.add_column("Took", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Tries", justify="right")
    table.add_column("Output / error", overflow="fold")
    for n, s in enumerate(steps, 1):
        if s["type"] == "termination":
            table.add_row(str(n), "termination", "-", "-", "-", styled("terminated"), "", "")
            continue
        if s["type"] == "step":
            status = {True: "complete", False: "errored", None: "running"}[s.get("success")]
            attempts = str(len(s.get("attempts") or []))
        else:
            status = (
                ("errored" if s.get("error") else "complete") if s.get("finished") else "waiting"
            )
            attempts = ""
        if s.get("error"):
            detail = f"{s['error']['name']}: {s['error']['message']}"
        elif show_output and s.get("output") is not None:
            detail = s["output"]
        elif s["type"] == "waitForEvent" and not s.get("finished"):
            detail = f"waiting for {s.get('event_type')!r} until {when(s.get('end'))}"
        elif s["type"] == "sleep" and not s.get("finished"):
            detail = f"until {when(s.get('end'))}"
        else:
            detail = ""
        table.add_row(
            str(n),
            s["type"],
            s["name"],
            when(s.get("start"), date=False),
            took(s.get("start"), s.get("end")) if s.get("finished", status != "running") else "-",
            styled(status),
            attempts,
            short(detail, limit),
        )
    return table


@instances_app.command("describe")
def describe_instance(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    instance_id: str = typer.Argument("latest", metavar="ID", help="Instance id, or 'latest'."),
    step_output: bool = typer.Option(
        True, "--step-output/--no-step-output", help="Show step outputs."
    ),
    truncate_output_limit: int = typer.Option(
        5000, "--truncate-output-limit", min=1, help="Truncate outputs after this many characters."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Describe an instance: status, params, output and its steps, attempts and errors."""
    instance_id = resolve_instance(ctx, name, instance_id)
    i, _ = run(ctx, "GET", rest_path(name, "instances", instance_id))
    if as_json:
        return print_json(i)
    grid = Table.grid(padding=(0, 2))
    rows = [
        ("Workflow", name),
        ("Id", i.get("id", instance_id)),
        ("Status", styled(i["status"])),
        ("Queued", when(i.get("queued"))),
        ("Started", when(i.get("start"))),
        ("Ended", when(i.get("end"))),
        ("Took", took(i.get("start"), i.get("end"))),
        ("Params", short(i.get("params"), truncate_output_limit)),
        ("Placement", i.get("placement", "dedicated")),
    ]
    if i.get("waiting_for"):
        rows.append(("Waiting for", ", ".join(i["waiting_for"])))
    if i.get("wake_on"):
        rows.append(("Wakes", when(i["wake_on"])))
    if i.get("error"):
        rows.append(("Error", f"[red]{i['error']['name']}[/red]: {i['error']['message']}"))
    if i["status"] == "complete":
        rows.append(("Output", short(i.get("output"), truncate_output_limit)))
    for label, value in rows:
        grid.add_row(f"[bold]{label}[/bold]", value)
    out.print(grid)
    if i["steps"]:
        out.print(_step_rows(i["steps"], step_output, truncate_output_limit))
    else:
        out.print("No steps yet.")


@instances_app.command("send-event")
def send_event(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    instance_id: str = typer.Argument(..., metavar="ID", help="Instance id, or 'latest'."),
    event_type: str = typer.Option(..., "--type", help="Type of the event."),
    payload: str = typer.Option("{}", help="Payload of the event, as a JSON string."),
    as_json: bool = JsonOption,
) -> None:
    """Send an event to an instance."""
    body = parse_json_argument(payload, "--payload")
    instance_id = resolve_instance(ctx, name, instance_id)
    result, _ = run(
        ctx, "POST", rest_path(name, "instances", instance_id, "events", event_type), body=body
    )
    if as_json:
        return print_json(result)
    out.print(f"Sent event {event_type!r} to instance {instance_id}.")


def _control(ctx: typer.Context, name: str, instance_id: str, action: str, as_json: bool) -> None:
    instance_id = resolve_instance(ctx, name, instance_id)
    result, _ = run(
        ctx, "PATCH", rest_path(name, "instances", instance_id, "status"), body={"status": action}
    )
    if as_json:
        return print_json(result)
    out.print(f"Instance {instance_id}: {action} done, status is now {styled(result['status'])}.")


_NAME = typer.Argument(..., help="Name of the workflow.")
_ID = typer.Argument(..., metavar="ID", help="Instance id, or 'latest'.")


@instances_app.command("terminate")
def terminate(
    ctx: typer.Context, name: str = _NAME, instance_id: str = _ID, as_json: bool = JsonOption
) -> None:
    """Terminate an instance (final)."""
    _control(ctx, name, instance_id, "terminate", as_json)


@instances_app.command("restart")
def restart(
    ctx: typer.Context, name: str = _NAME, instance_id: str = _ID, as_json: bool = JsonOption
) -> None:
    """Restart an instance from the beginning, with the same params."""
    _control(ctx, name, instance_id, "restart", as_json)


@instances_app.command("pause")
def pause(
    ctx: typer.Context, name: str = _NAME, instance_id: str = _ID, as_json: bool = JsonOption
) -> None:
    """Pause an instance (a step in flight finishes first)."""
    _control(ctx, name, instance_id, "pause", as_json)


@instances_app.command("resume")
def resume(
    ctx: typer.Context, name: str = _NAME, instance_id: str = _ID, as_json: bool = JsonOption
) -> None:
    """Resume a paused instance."""
    _control(ctx, name, instance_id, "resume", as_json)


# ---------------------------------------------------------------------------
# dev


@app.command("dev")
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
) -> None:
    """Start the engine (an embedded local Ray, or in a Ray cluster with --address) and
    the gateway; Ctrl-C stops both (in a cluster the engine keeps running)."""
    from .config import load_config

    try:
        from service.auth import check_bind, configured_tokens, default_account, generate_token
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
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    try:
        sock = _listen(engine_config.host, engine_config.port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {engine_config.host}:{engine_config.port}: {exc.strerror or exc}"
        ) from None
    tokens = configured or (generate_token(default_account()),)

    # Ctrl-C and SIGTERM stop the server gracefully (uvicorn), then the engine below.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)

    from .runtime.local import start_local

    where = f"Ray cluster at {address}" if address else "local Ray"
    err.print(f"starting the engine ({where})...", style="dim")
    try:
        engine = start_local(engine_config, ray_address=address)
    except PyflowError as exc:  # e.g. storage.unavailable: a read-only or full folder
        raise fail(f"{exc.code}: {exc.message}") from None
    # start_local (Ray) may install its own handlers; ours must be the ones uvicorn restores.
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    try:
        _banner(engine_config, sock, tokens, generated=not configured)
        asyncio.run(_serve(engine, engine_config, tokens, sock))
    finally:
        err.print("stopping the engine...", style="dim")
        engine.shutdown()
        sock.close()
    err.print("stopped.", style="dim")


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


def _banner(config: Any, sock: socket.socket, tokens: Any, *, generated: bool) -> None:
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    workflows = ", ".join(w.name for w in config.workflows) or "none (pass --config pyflow.toml)"
    out.print(f"[bold green]pyflow dev[/bold green] gateway on [bold]{url}[/bold]")
    out.print(f"  workflows: {workflows}")
    out.print(f"  storage:   {config.storage}")
    if generated:
        token = tokens[0]
        out.print(f"  account:   {token.accounts[0]}")
        out.print(f"  token:     {token.token}  (generated for this run)")
        out.print(
            f"\n  export PYFLOW_URL={url} PYFLOW_TOKEN={token.token} "
            f"PYFLOW_ACCOUNT={token.accounts[0]}"
        )
    else:
        accounts = sorted({a for t in tokens for a in t.accounts})
        out.print(f"  accounts:  {', '.join(accounts)} (tokens from configuration)")
    out.print("  Ctrl-C to stop.\n")
    sys.stdout.flush()


async def _serve(engine: Any, config: Any, tokens: Any, sock: socket.socket) -> None:
    import uvicorn

    from service.app import create_app

    client = await engine.async_client()
    app = create_app(client, config, tokens=tokens)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=os.environ.get("PYFLOW_LOG_LEVEL", "warning"),
            lifespan="off",
            access_log=False,
        )
    )
    await server.serve(sockets=[sock])


def main() -> None:
    """Console entry point (``pyflow``)."""
    app()


if __name__ == "__main__":
    main()
