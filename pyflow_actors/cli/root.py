"""The root of the ``pyflow`` command tree: the app, its global options
(``--url``, ``--token``, ``--account``, ``--json``, ``--version``) and where
each command and group comes from.

The root's own commands are registered here, in the order ``pyflow --help``
lists them; each group (``instances``, ``workflows``, ``subscriptions``)
registers its commands in its own module.
"""

from __future__ import annotations

import sys

import typer

from ..constants import DEFAULT_URL
from .deletion import delete_instances
from .dev import dev
from .gateway import Gateway
from .instances import instances_app
from .settings import update_workflow
from .subscriptions import subscriptions_app
from .upgrade import check, replay
from .versions import workflows_app
from .workflows import delete_workflow, describe_workflow, list_workflows, trigger

app = typer.Typer(
    help="pyflow: durable workflows on Ray (commands mirror `wrangler workflows`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


app.command("list")(list_workflows)
app.command("describe")(describe_workflow)
app.command("delete")(delete_workflow)
app.command("trigger")(trigger)
app.command("dev")(dev)
app.command("check")(check)
app.command("replay")(replay)
instances_app.command("delete")(delete_instances)
app.add_typer(instances_app, name="instances")
workflows_app.command("update")(update_workflow)
app.add_typer(workflows_app, name="workflows")
app.add_typer(subscriptions_app, name="subscriptions")


def main() -> None:
    """Console entry point (``pyflow``)."""
    app()
