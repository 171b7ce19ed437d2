"""``pyflow instances delete NAME ID... [--filename FILE]``: delete instances
(wrangler's ``workflows instances delete``), through the batch delete endpoint.

A running instance is stopped first; its journal, log and registry row go.
Any id that could not be deleted (an unknown id) makes the command exit 1,
after the others were deleted.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..client.http_transport import rest_path
from .gateway import JsonOption, resolve_instance, run, wants_json
from .output import err, fail, out, print_json

MAX_IDS = 100


def delete_instances(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    instance_ids: list[str] = typer.Argument(
        None, metavar="[ID|latest]...", help="Instance ids ('latest': the newest instance)."
    ),
    filename: Path | None = typer.Option(
        None, "--filename", help="A JSON file holding an array of instance ids."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Delete instances and everything they stored (running ones are stopped first)."""
    ids = [resolve_instance(ctx, name, i) for i in instance_ids or []]
    if filename is not None:
        ids += _ids_in(filename)
    if not 1 <= len(ids) <= MAX_IDS:
        raise fail(f"give 1 to {MAX_IDS} instance ids (as arguments or --filename), got {len(ids)}")
    result, _ = run(
        ctx, "POST", rest_path(name, "instances", "batch", "delete"), body={"instances": ids}
    )
    if wants_json(ctx, as_json):
        print_json(result)
    else:
        for deleted in result["deleted"]:
            out.print(f"Deleted instance {deleted['id']}.")
        for error in result["errors"]:
            err.print(f"error: {error['message']}", markup=False, highlight=False)
    if result["errors"]:
        raise typer.Exit(1)


def _ids_in(path: Path) -> list[str]:
    try:
        ids = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"--filename {str(path)!r}: cannot read a JSON array of ids: {exc}") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise fail(f"--filename {str(path)!r} must hold a JSON array of instance ids (strings)")
    return ids
