"""The root's workflow commands: ``pyflow list``, ``describe``, ``delete`` and
``trigger`` (with ``--wait``, which polls the new instance until it is final).

The functions are plain; ``root.py`` registers them on the root app, in the
order ``pyflow --help`` lists them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ..client.http_transport import rest_path
from ..models import FINAL_STATUSES, InstanceStatus
from .gateway import JsonOption, parse_json_argument, run, wants_json
from .output import err, fail, out, print_json, styled, took, when


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
