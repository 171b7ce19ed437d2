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
``PYFLOW_ACCOUNT``); with none of them, run in the project folder, the CLI
finds the running ``pyflow dev`` of the project (see ``dev_session``).
``--json`` (before or after the command) prints the REST result as JSON. On
failure a command prints one line (``error: <code>: <message>``) and exits with 1.
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
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import dev_session
from .cli_workflows import workflows_app
from .client.http_transport import HttpTransport, rest_path
from .constants import DEFAULT_URL
from .errors import PyflowError
from .models import FINAL_STATUSES, InstanceStatus

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
app.add_typer(workflows_app, name="workflows")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print the REST result as JSON.")


# ---------------------------------------------------------------------------
# connection and output


@dataclass
class Gateway:
    """Where the commands send their REST calls.

    Whatever is not given (flag or environment) comes from the project's
    running ``pyflow dev``, found on first use; the URL defaults to
    :data:`DEFAULT_URL`. A discovered token is only sent to the URL it was
    discovered with.
    """

    url: str | None
    token: str | None
    account: str | None
    json: bool = False
    _resolved: bool = False

    def resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        if self.url is not None and self.token is not None:
            return
        session = dev_session.discover()
        if session is None:
            return
        if self.url is None or self.url.rstrip("/") == session.url.rstrip("/"):
            self.url = session.url
            self.token = self.token or session.token
            self.account = self.account or session.account

    def call(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        body: Any = NO_BODY,
    ) -> tuple[Any, dict[str, Any] | None]:
        """One REST call: ``(result, result_info)``; raises :class:`PyflowError`."""

        self.resolve()

        async def go() -> tuple[Any, dict[str, Any] | None]:
            transport = HttpTransport(
                self.url or DEFAULT_URL, token=self.token, account=self.account
            )
            try:
                return await transport.request(
                    method, path, params=params, body=body, send_body=body is not NO_BODY
                )
            finally:
                await transport.close()

        return asyncio.run(go())


def fail(message: str) -> typer.Exit:
    """One line on stderr; square brackets in ``message`` are kept (no markup)."""
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(1)


def gateway(ctx: typer.Context) -> Gateway:
    connection = ctx.find_root().obj
    assert isinstance(connection, Gateway), "the root command sets ctx.obj"
    return connection


def wants_json(ctx: typer.Context, as_json: bool) -> bool:
    """``--json`` after the command, or before it (``pyflow --json list``)."""
    return as_json or gateway(ctx).json


def run(ctx: typer.Context, method: str, path: str = "", **kwargs: Any) -> Any:
    try:
        return gateway(ctx).call(method, path, **kwargs)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def when(value: str | None, *, date: bool = True, compact: bool = False) -> str:
    """An ISO time from the API as local time, to the second (``compact``: no year)."""
    if not value:
        return "-"
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    if compact:
        return moment.strftime("%m-%d %H:%M:%S")
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


STATUS_STYLE: dict[str, str] = {
    "retrying": "yellow",
    InstanceStatus.COMPLETE: "green",
    InstanceStatus.ERRORED: "red",
    InstanceStatus.TERMINATED: "red",
    InstanceStatus.RUNNING: "cyan",
    InstanceStatus.WAITING: "yellow",
    InstanceStatus.WAITING_FOR_PAUSE: "yellow",
    InstanceStatus.PAUSED: "magenta",
    InstanceStatus.QUEUED: "blue",
}


# A step's status, shown in the instance statuses' words, by its ``success``.
STEP_STATUS = {
    True: InstanceStatus.COMPLETE,
    False: InstanceStatus.ERRORED,
    None: InstanceStatus.RUNNING,
}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def short(value: Any, limit: int) -> str:
    """A value cut to ``limit`` characters, escaped for rich (its brackets are kept)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return escape(text if len(text) <= limit else text[: max(0, limit - 1)] + "…")


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
    return str(result[0]["id"])


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("pyflow-actors")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            number = "unknown"
        sys.stdout.write(f"pyflow {number}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    url: str | None = typer.Option(
        None,
        envvar="PYFLOW_URL",
        help=f"Gateway URL (default: this project's running `pyflow dev`, else {DEFAULT_URL}).",
    ),
    token: str | None = typer.Option(
        None, envvar="PYFLOW_TOKEN", help="API token (default: this project's `pyflow dev`)."
    ),
    account: str | None = typer.Option(
        None, envvar="PYFLOW_ACCOUNT", help="Account id (default: local)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print REST results as JSON."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = Gateway(url=url, token=token, account=account, json=as_json)


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
    if wants_json(ctx, as_json):
        return print_json({"result": result, "result_info": info})
    if not result:
        out.print("No workflows.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)  # no vertical rules: fits 80 columns
    table.add_column("Name", overflow="fold", min_width=8)
    table.add_column("Class", overflow="fold", min_width=16)
    table.add_column("Binding", overflow="fold", min_width=7)
    table.add_column("Instances", overflow="fold", min_width=9)
    table.add_column("Modified", no_wrap=True)
    for w in result:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(w["instances"].items())) or "-"
        table.add_row(
            w["name"],
            escape(f"{w['script_name']}:{w['class_name']}"),
            escape(w.get("binding", "")),
            counts,
            when(w["modified_on"], compact=True),
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
    if wants_json(ctx, as_json):
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
    if wants_json(ctx, as_json):
        return print_json(result)
    out.print(f"Deleted workflow {name} and its instances.")


@app.command("trigger")
def trigger(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    params: str = typer.Argument("", help="Params for the instance, as a JSON string."),
    params_file: str | None = typer.Option(
        None,
        "--params-file",
        metavar="PATH",
        help="Read the params (JSON) from a file; - is stdin.",
    ),
    instance_id: str | None = typer.Option(
        None, "--id", help="Instance id (default: a random UUID)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for a final status and print the output."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="With --wait: give up after this many seconds."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Trigger a workflow: create a new instance."""
    if params and params_file is not None:
        raise fail("give the params either as PARAMS or with --params-file, not both")
    text = read_params_file(params_file) if params_file is not None else params
    body: dict[str, Any] = {"params": parse_json_argument(text, "PARAMS")}
    if instance_id is not None:
        body["instance_id"] = instance_id
    result, _ = run(ctx, "POST", rest_path(name, "instances"), body=body)
    if wait:
        return wait_for_final(ctx, name, result["id"], timeout, wants_json(ctx, as_json))
    if wants_json(ctx, as_json):
        return print_json(result)
    out.print(
        f"Created instance [bold]{result['id']}[/bold] of {name} ({styled(result['status'])})."
    )


def read_params_file(path: str) -> str:
    """The text of ``--params-file`` (``-``: standard input)."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise fail(f"cannot read --params-file {path!r}: {exc.strerror or exc}") from None


def wait_for_final(
    ctx: typer.Context, name: str, instance_id: str, timeout: float | None, as_json: bool
) -> None:
    """Poll the instance's status (a spinner on stderr) until it is final; print the result."""
    import time

    path = rest_path(name, "instances", instance_id, "status")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.1
    with err.status(f"instance {instance_id} of {name}: waiting for it to finish..."):
        while True:
            result, _ = run(ctx, "GET", path)
            if InstanceStatus(result["status"]) in FINAL_STATUSES:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise fail(f"instance {instance_id} is still {result['status']} after {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
    if as_json:
        print_json(result)
    else:
        took_text = took(result.get("started_on"), result.get("ended_on"))
        out.print(f"Instance [bold]{instance_id}[/bold] of {name}: {styled(result['status'])}"
                  f" (took {took_text}).")  # fmt: skip
        if result["status"] == InstanceStatus.COMPLETE.value:
            print_json(result.get("output"))
    error = result.get("error")
    if result["status"] != InstanceStatus.COMPLETE.value:
        reason = f": {error['name']}: {error['message']}" if error else ""
        raise fail(f"instance {instance_id} is {result['status']}{reason}")


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


def _step_rows(steps: list[dict[str, Any]], show_output: bool, limit: int) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)  # no vertical rules: 8 columns fit 80
    table.add_column("#", justify="right")
    table.add_column("Type", no_wrap=True)
    table.add_column("Name", overflow="fold", min_width=8)
    table.add_column("Start", no_wrap=True)
    table.add_column("Took", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Tries", justify="right")
    table.add_column("Output / error", overflow="fold", min_width=16)
    for n, s in enumerate(steps, 1):
        if s["type"] == "termination":
            table.add_row(
                str(n), "termination", "-", "-", "-", styled(InstanceStatus.TERMINATED), "", ""
            )
            continue
        retry = retry_text(s)
        if s["type"] == "step":
            status = "retrying" if retry else STEP_STATUS[s.get("success")]
            attempts = str(len(s.get("attempts") or []))
        else:
            status = (
                STEP_STATUS[not s.get("error")] if s.get("finished") else InstanceStatus.WAITING
            )
            attempts = ""
        if s.get("error"):
            detail = f"{s['error']['name']}: {s['error']['message']}"
        elif retry:
            detail = retry
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
            escape(s["name"]),
            when(s.get("start"), date=False),
            took(s.get("start"), s.get("end"))
            if s.get("finished", status != InstanceStatus.RUNNING)
            else "-",
            styled(status),
            attempts,
            short(detail, limit),
        )
    return table


def retry_text(step: dict[str, Any]) -> str:
    """For a step waiting to retry: its last attempt's error and when the next is due."""
    due = step.get("next_attempt")
    failed = [a for a in step.get("attempts") or [] if a.get("error")]
    if step.get("type") != "step" or not due or not failed:
        return ""
    error = failed[-1]["error"]
    return (
        f"attempt {len(step['attempts'])} failed: {error['name']}: {error['message']}; "
        f"next attempt at {when(due, date=False)}"
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
    if i["status"] == InstanceStatus.COMPLETE:
        rows.append(("Output", short(i.get("output"), truncate_output_limit)))
    for label, value in rows:
        grid.add_row(f"[bold]{label}[/bold]", value)
    out.print(grid)
    if i["steps"]:
        out.print(_step_rows(i["steps"], step_output, truncate_output_limit))
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
    from .watch import watch  # httpx-sse: only for --watch

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


def _control(ctx: typer.Context, name: str, instance_id: str, action: str, as_json: bool) -> None:
    instance_id = resolve_instance(ctx, name, instance_id)
    result, _ = run(
        ctx, "PATCH", rest_path(name, "instances", instance_id, "status"), body={"status": action}
    )
    if wants_json(ctx, as_json):
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
# subscriptions

subscriptions_app = typer.Typer(help="Event subscription commands: dead-letters.")
app.add_typer(subscriptions_app, name="subscriptions")


@subscriptions_app.command("dead-letters")
def list_dead_letters(
    ctx: typer.Context,
    subscription: str | None = typer.Option(None, "--subscription", help="Only this one's."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many."),
    as_json: bool = JsonOption,
) -> None:
    """Subscription messages that kept failing and were set aside, newest first."""
    target = gateway(ctx)
    target.resolve()

    async def fetch() -> list[dict[str, Any]]:
        transport = HttpTransport(
            target.url or DEFAULT_URL, token=target.token, account=target.account
        )
        try:
            return [d.model_dump() for d in await transport.dead_letters(subscription, limit)]
        finally:
            await transport.close()

    try:
        letters = asyncio.run(fetch())
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    if as_json:
        return print_json(letters)
    if not letters:
        out.print("No dead letters.")
        return
    table = Table("#", "Subscription", "Workflow", "Instance", "Event", "Tries", "Last error")
    for d in letters:
        event = json.loads(d["body"]).get("type", "").rsplit(".", 1)[-1]
        table.add_row(
            str(d["seq"]), d["subscription"], d["workflow"], d["instance_id"], event,
            str(d["attempts"]), d.get("last_error") or "-",
        )  # fmt: skip
    out.print(table)


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
    from .config import load_config

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
            from .worker import Worker

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
    from .instance_logs import ConsoleFollower

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
    from . import config_check

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
    crons = asyncio.ensure_future(app.state.worker.run_crons()) if app.state.worker else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if crons is not None:
            crons.cancel()


def main() -> None:
    """Console entry point (``pyflow``)."""
    app()


if __name__ == "__main__":
    main()
