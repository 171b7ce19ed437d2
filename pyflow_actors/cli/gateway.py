"""Where the commands send their REST calls: the :class:`Gateway` the root
command puts on the context, and the helpers every gateway command shares
(``run``, ``--json``, JSON arguments, ``latest`` as an instance id).

A failed call becomes the CLI's one line (``error: <code>: <message>``) and
exit status 1, here and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import typer

from .. import dev_session
from ..client.http_transport import HttpTransport, rest_path
from ..constants import DEFAULT_URL
from ..errors import PyflowError
from .output import fail

NO_BODY = object()

JsonOption = typer.Option(False, "--json", help="Print the REST result as JSON.")


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
        """Fill what is missing from the project's running ``pyflow dev`` (once)."""
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
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, Any] | None]:
        """One REST call: ``(result, result_info)``; raises :class:`PyflowError`."""

        self.resolve()

        async def go() -> tuple[Any, dict[str, Any] | None]:
            transport = HttpTransport(
                self.url or DEFAULT_URL, token=self.token, account=self.account
            )
            try:
                return await transport.request(
                    method,
                    path,
                    params=params,
                    body=body,
                    send_body=body is not NO_BODY,
                    headers=headers,
                )
            finally:
                await transport.close()

        return asyncio.run(go())


def gateway(ctx: typer.Context) -> Gateway:
    """The :class:`Gateway` the root command put on the context."""
    connection = ctx.find_root().obj
    assert isinstance(connection, Gateway), "the root command sets ctx.obj"
    return connection


def wants_json(ctx: typer.Context, as_json: bool) -> bool:
    """``--json`` after the command, or before it (``pyflow --json list``)."""
    return as_json or gateway(ctx).json


def run(ctx: typer.Context, method: str, path: str = "", **kwargs: Any) -> Any:
    """One REST call (see :meth:`Gateway.call`); a failure is the CLI's error line."""
    try:
        return gateway(ctx).call(method, path, **kwargs)
    except PyflowError as exc:
        raise fail(f"{exc.code}: {exc.message}") from None


def parse_json_argument(text: str | None, what: str) -> Any:
    """A JSON argument's value (empty: ``None``); invalid JSON names ``what``."""
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
