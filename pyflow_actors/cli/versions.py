"""``pyflow workflows ...``: commands about a workflow's code and versions.

``pyflow workflows graph NAME`` draws the graph of the workflow's current code,
offline: it reads ``pyflow.toml``, imports the class and parses its source
(no engine, no gateway). ``--version ID`` draws a recorded version instead,
from the gateway. ``pyflow workflows versions NAME`` lists the versions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..client.http_transport import rest_path
from ..errors import PyflowError, WorkflowSourceUnavailable
from .gateway import run
from .output import err, out, print_json, when

workflows_app = typer.Typer(
    help="Workflow commands: graph (from the code, offline) and versions.",
    no_args_is_help=True,
)


def _fail(error: PyflowError) -> typer.Exit:
    err.print(f"error: {error.code}: {error.message}", markup=False)
    return typer.Exit(1)


def local_graph(name: str, config: Path | None) -> dict[str, Any]:
    """The graph of workflow ``name`` (name or binding) as ``pyflow.toml`` declares it."""
    from ..config import add_code_paths, load_config
    from ..graph import workflow_graph

    if config is None and Path("pyflow.toml").is_file():
        config = Path("pyflow.toml")
    engine = load_config(config)
    add_code_paths(engine.code_paths)
    return workflow_graph(engine.workflow(name).load())


@workflows_app.command("graph")
def graph(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name (or binding) of the workflow."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="pyflow.toml (default: ./pyflow.toml if it exists)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Draw this recorded version (asks the gateway) instead."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the graph as JSON."),
) -> None:
    """Draw the workflow's graph: steps, sleeps, waits, loops, branches, calls."""
    from ..graph.tree import graph_tree

    try:
        drawn = local_graph(name, config) if version is None else _remote_graph(ctx, name, version)
    except PyflowError as exc:
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps(drawn, indent=2) + "\n")
        return
    out.print(graph_tree(drawn))


def _remote_graph(ctx: typer.Context, name: str, version: str) -> dict[str, Any]:
    result, _ = run(ctx, "GET", rest_path(name, "versions", version, "graph"))
    if not result.get("graph"):
        raise WorkflowSourceUnavailable(f"version {version!r} of {name!r} has no graph")
    drawn: dict[str, Any] = result["graph"]
    return drawn


@workflows_app.command("versions")
def versions(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the workflow."),
    as_json: bool = typer.Option(False, "--json", help="Print the REST result as JSON."),
) -> None:
    """List the workflow's versions, newest first (asks the gateway)."""
    result, _ = run(ctx, "GET", rest_path(name, "versions"), params={"per_page": 1000})
    if as_json:
        return print_json(result)
    if not result:
        out.print("No versions.")
        return
    table = Table("Version", "Class", "Graph", "Created")
    for v in result:
        table.add_row(
            v["id"], v["class_name"], "yes" if v["has_dag"] else "no", when(v["created_on"])
        )
    out.print(table)
