"""``pyflow check`` and ``pyflow replay``: upgrades checked offline, journals replayed locally.

Both read ``pyflow.toml`` and the storage directory in this process (no engine,
no gateway): journals are opened read-only, workflow classes imported as the
config declares them, and no step function runs (see ``pyflow_actors.upgrade``).
``pyflow check`` exits with 1 when an instance diverges, so CI can gate a deploy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import PyflowError
from .output import err, fail, out, print_json

CONFIG_HELP = "pyflow.toml (default: ./pyflow.toml if it exists)."
STORAGE_HELP = "Storage directory (default: the config's [engine] storage)."


def _config(path: Path | None) -> Any:
    from ..config import load_config

    if path is None and Path("pyflow.toml").is_file():
        path = Path("pyflow.toml")
    return load_config(path)


def check(
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    storage: Path | None = typer.Option(None, "--storage", help=STORAGE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Replay every unfinished instance on the code as it is now: compatible, or where it diverges."""
    from ..upgrade.offline import Verdict, check_storage

    try:
        verdicts = check_storage(_config(config), storage)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    if as_json:
        print_json([v.to_json() for v in verdicts])
    elif not verdicts:
        out.print("No unfinished instances.")
    else:
        table = Table("Workflow", "Instance", "Verdict", "Detail")
        colour = {Verdict.COMPATIBLE: "green", Verdict.DIVERGED: "red", Verdict.SKIPPED: "yellow"}
        for v in verdicts:
            verdict = f"[{colour[v.verdict]}]{v.verdict}[/]"
            table.add_row(escape(v.workflow), escape(v.instance_id), verdict, escape(v.detail))
        out.print(table)
    if any(v.verdict is Verdict.DIVERGED for v in verdicts):
        raise typer.Exit(1)


def replay(
    name: str = typer.Argument(..., help="Name (or binding) of the workflow."),
    instance_id: str = typer.Argument(..., help="Id of the instance."),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    storage: Path | None = typer.Option(None, "--storage", help=STORAGE_HELP),
) -> None:
    """Replay an instance's journal here (breakpoints in run() work; no step runs again)."""
    from ..upgrade.offline import replay_instance

    def show(record: Any) -> None:
        kind = {"waitForEvent": "wait_for_event"}.get(record.kind, record.kind)
        if record.state == "failed":
            result = f"raised {record.error_name}: {record.error_message}"
        elif record.kind == "sleep":
            result = "slept"
        else:
            result = f"-> {record.output}"
        out.print(f"{escape(kind)} {escape(repr(record.key))}: {escape(result)}")

    try:
        result = replay_instance(_config(config), name, instance_id, show, storage)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None
    if result.divergence is not None:
        err.print(f"diverged: {escape(result.divergence.describe())}")
        raise typer.Exit(1)
    if result.in_progress is not None:
        step = result.in_progress
        kind = {"waitForEvent": "wait_for_event"}.get(step.kind, step.kind)
        out.print(f"{escape(kind)} {escape(repr(step.key))}: in progress (the replay stops here)")
    out.print(f"replayed {result.matched} recorded step(s); the code fits the journal")
