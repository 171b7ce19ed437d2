"""``pyflow workflows update NAME ...``: replace a workflow's settings through
``PUT .../workflows/{name}`` (what ``workflows.update`` of Cloudflare's SDK
sends): its running cap, the default retention of its instances, its step
limit and its cron schedules. A setting left out is unset."""

from __future__ import annotations

from typing import Any

import typer

from ..client.http_transport import rest_path
from .gateway import JsonOption, run, wants_json
from .output import out, print_json


def update_workflow(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Running instances of this workflow at once."
    ),
    success_retention: str | None = typer.Option(
        None, "--success-retention", help="Keep complete/terminated instances this long ('3 days')."
    ),
    error_retention: str | None = typer.Option(
        None, "--error-retention", help="Keep errored instances this long ('7 days')."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, help="Most step.do calls an instance may make."
    ),
    schedules: list[str] = typer.Option(
        [], "--schedule", help="A cron schedule (UTC); repeat for more."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Replace a workflow's settings (every one left out is unset)."""
    current, _ = run(ctx, "GET", rest_path(name))
    body: dict[str, Any] = {
        "class_name": current["class_name"],
        "script_name": current["script_name"],
        "schedules": [{"cron": c} for c in schedules],
    }
    if concurrency is not None:
        body["concurrency"] = {"limit": concurrency}
    if max_steps is not None:
        body["limits"] = {"steps": max_steps}
    retention = {"success_retention": success_retention, "error_retention": error_retention}
    if any(retention.values()):
        body["default_retention"] = {k: v for k, v in retention.items() if v}
    result, _ = run(ctx, "PUT", rest_path(name), body=body)
    if wants_json(ctx, as_json):
        return print_json(result)
    out.print(f"Updated workflow {name}: version {result['version_id']}.")
