"""``pyflow instances ...``: list, describe (or ``--watch``), logs, send-event
and the control commands (terminate, restart, pause, resume).

Every command takes the workflow's name and an instance id, where ``latest``
means the workflow's most recently created instance.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..client.http_transport import rest_path
from ..constants import DEFAULT_URL
from ..errors import PyflowError
from ..idempotency import idempotency_header
from ..models import FINAL_STATUSES, InstanceStatus
from .gateway import JsonOption, gateway, parse_json_argument, resolve_instance, run, wants_json
from .output import fail, out, print_json, short, styled, took, when
from .steps import retry_text, step_table

instances_app = typer.Typer(
    help="Instance commands: list, describe, send-event, terminate, restart, pause, resume.",
    no_args_is_help=True,
)


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
    if wants_json(ctx, as_json):
        return print_json({"result": result, "result_info": info})
    if not result:
        out.print("No instances.")
        return
    table = Table()
    table.add_column("Id", overflow="fold", min_width=12)
    table.add_column("Status", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    table.add_column("Took", no_wrap=True)
    table.add_column("Error", overflow="fold")
    for i in result:
        error = i.get("error")
        table.add_row(
            i["id"],
            styled(i["status"]),
            when(i["created_on"], compact=True),
            took(i.get("started_on"), i.get("ended_on")),
            short(f"{error['name']}: {error['message']}", 60) if error else "",
        )
    out.print(table)
    if info:
        out.print(
            f"page {info['page']} of {info['total_pages']} ({info['total_count']} instances)",
            style="dim",
        )


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
    follow: bool = typer.Option(
        False,
        "--watch",
        help="Show the instance's events live until it ends (JSON lines with --json).",
    ),
) -> None:
    """Describe an instance: status, params, output and its steps, attempts and errors."""
    instance_id = resolve_instance(ctx, name, instance_id)
    if follow:
        return watch_instance(ctx, name, instance_id, as_json)
    i, _ = run(ctx, "GET", rest_path(name, "instances", instance_id))
    if wants_json(ctx, as_json):
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
    for s in i.get("steps") or []:
        if retry_text(s):
            rows.append(("Retrying", f"{escape(s['name'])}: {short(retry_text(s), 200)}"))
    if i.get("error"):
        error = i["error"]
        rows.append(("Error", f"[red]{escape(error['name'])}[/red]: {escape(error['message'])}"))
    if i.get("rollback"):  # how the rollback handlers of its steps ended
        rollback, failed = i["rollback"], i["rollback"].get("error")
        why = f": {escape(failed['name'])}: {escape(failed['message'])}" if failed else ""
        rows.append(("Rollback", f"{rollback['outcome']}{why}"))
    if i["status"] == InstanceStatus.COMPLETE:
        rows.append(("Output", short(i.get("output"), truncate_output_limit)))
    for label, value in rows:
        grid.add_row(f"[bold]{label}[/bold]", value)
    out.print(grid)
    if i["steps"]:
        out.print(step_table(i["steps"], step_output, truncate_output_limit))
    else:
        out.print("No steps yet.")


@instances_app.command("logs")
def instance_logs(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    instance_id: str = typer.Argument("latest", metavar="ID", help="Instance id, or 'latest'."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new lines until the instance is final."
    ),
    tail: int = typer.Option(200, "--tail", min=1, max=10_000, help="Show the last N lines."),
    as_json: bool = JsonOption,
) -> None:
    """Show what an instance's code printed or logged: ``time [step] message``.

    With --json: the REST result; with --follow --json, one JSON line per log line.
    """
    import time

    instance_id = resolve_instance(ctx, name, instance_id)
    path = rest_path(name, "instances", instance_id, "logs")
    result, _ = run(ctx, "GET", path, params={"after": 0, "limit": tail})
    as_json = wants_json(ctx, as_json)
    if as_json and not follow:
        return print_json(result)
    show_log_lines(result["lines"], as_json)
    after = result["next_after"]
    try:
        while follow:
            time.sleep(0.5)
            final = InstanceStatus(_instance_status(ctx, name, instance_id)) in FINAL_STATUSES
            result, _ = run(ctx, "GET", path, params={"after": after, "limit": 10_000})
            show_log_lines(result["lines"], as_json)
            after = result["next_after"]
            follow = not final  # the lines written before it became final are shown
    except KeyboardInterrupt:
        pass


def _instance_status(ctx: typer.Context, name: str, instance_id: str) -> str:
    result, _ = run(ctx, "GET", rest_path(name, "instances", instance_id, "status"))
    return str(result["status"])


def show_log_lines(lines: list[dict[str, Any]], as_json: bool) -> None:
    for line in lines:
        if as_json:
            text = json.dumps(line)
        else:
            level = f"{line['level']} " if line.get("level") else ""
            step = line.get("step") or "run"
            text = f"{when(line['timestamp'], date=False)} [{step}] {level}{line['message']}"
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


def watch_instance(ctx: typer.Context, name: str, instance_id: str, as_json: bool) -> None:
    from ..watch import watch  # httpx-sse: only for --watch

    target = gateway(ctx)
    target.resolve()
    try:
        watch(
            target.url or DEFAULT_URL,
            target.token,
            target.account,
            name,
            instance_id,
            as_json=as_json,
            console=out,
        )
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


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
    if wants_json(ctx, as_json):
        return print_json(result)
    out.print(f"Sent event {event_type!r} to instance {instance_id}.")


def _control(
    ctx: typer.Context,
    name: str,
    instance_id: str,
    action: str,
    as_json: bool,
    extra: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    try:
        headers = idempotency_header(key)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    instance_id = resolve_instance(ctx, name, instance_id)
    body = {"status": action, **(extra or {})}
    path = rest_path(name, "instances", instance_id, "status")
    result, _ = run(ctx, "PATCH", path, body=body, headers=headers)
    if wants_json(ctx, as_json):
        return print_json(result)
    out.print(f"Instance {instance_id}: {action} done, status is now {styled(result['status'])}.")


_NAME = typer.Argument(..., help="Name of the workflow.")
_ID = typer.Argument(..., metavar="ID", help="Instance id, or 'latest'.")
_KEY = typer.Option(
    None,
    "--idempotency-key",
    metavar="KEY",
    help="Sent as Idempotency-Key: the same command run again with this key is applied once.",
)


@instances_app.command("terminate")
def terminate(
    ctx: typer.Context,
    name: str = _NAME,
    instance_id: str = _ID,
    rollback: bool = typer.Option(
        False,
        "--rollback",
        help="Run the rollback handlers of its finished steps first (last started first).",
    ),
    key: str | None = _KEY,
    as_json: bool = JsonOption,
) -> None:
    """Terminate an instance (final); --rollback undoes its finished steps first."""
    extra = {"rollback": True} if rollback else None
    _control(ctx, name, instance_id, "terminate", as_json, extra, key)


@instances_app.command("restart")
def restart(
    ctx: typer.Context,
    name: str = _NAME,
    instance_id: str = _ID,
    from_step: str | None = typer.Option(
        None,
        "--from",
        metavar="NAME[:COUNT]",
        help="Restart from this step (its COUNT-th occurrence, default 1): "
        "the steps before it keep their results.",
    ),
    from_type: str = typer.Option(
        "do", "--from-type", help="Type of the --from step: do, sleep or waitForEvent."
    ),
    key: str | None = _KEY,
    as_json: bool = JsonOption,
) -> None:
    """Restart an instance from the beginning (or --from a step), with the same params."""
    extra = None if from_step is None else {"from": _restart_target(from_step, from_type)}
    _control(ctx, name, instance_id, "restart", as_json, extra, key)


def _restart_target(value: str, step_type: str) -> dict[str, Any]:
    """``NAME[:COUNT]`` as REST's ``from``: ``charge:2`` is the second step named charge."""
    name, _, count = value.rpartition(":")
    if not name or not count.isdigit():
        name, count = value, "1"
    if int(count) < 1:
        raise fail(f"--from {value!r}: COUNT must be a positive integer")
    return {"name": name, "count": int(count), "type": step_type}


@instances_app.command("pause")
def pause(
    ctx: typer.Context,
    name: str = _NAME,
    instance_id: str = _ID,
    key: str | None = _KEY,
    as_json: bool = JsonOption,
) -> None:
    """Pause an instance (a step in flight finishes first)."""
    _control(ctx, name, instance_id, "pause", as_json, key=key)


@instances_app.command("resume")
def resume(
    ctx: typer.Context,
    name: str = _NAME,
    instance_id: str = _ID,
    key: str | None = _KEY,
    as_json: bool = JsonOption,
) -> None:
    """Resume a paused instance."""
    _control(ctx, name, instance_id, "resume", as_json, key=key)
