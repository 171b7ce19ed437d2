"""``pyflow subscriptions ...``: what the event subscriptions set aside
(``dead-letters``), read from the gateway.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.table import Table

from ..client.http_transport import HttpTransport
from ..constants import DEFAULT_URL
from ..errors import PyflowError
from .gateway import JsonOption, gateway
from .output import fail, out, print_json

subscriptions_app = typer.Typer(help="Event subscription commands: dead-letters.")


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
