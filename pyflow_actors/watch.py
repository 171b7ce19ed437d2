"""``pyflow instances describe NAME ID --watch``: an instance's events, live, in
the terminal, until the instance ends.

Reads the gateway's ``GET .../instances/{id}/subscribe`` stream (server-sent
events, with httpx-sse) and prints one line per event; after a dropped
connection it reconnects and resumes after the last event it printed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
from httpx_sse import SSEError, connect_sse
from rich.console import Console
from rich.markup import escape

from .client.http_transport import error_from_response, rest_path
from .errors import EngineUnavailable, PyflowError

RECONNECT_SECONDS = 1.0
MAX_RECONNECTS = 30
_STYLE = {
    "workflow_completed": "green", "step_completed": "green", "attempt_completed": "green",
    "sleep_completed": "green", "wait_completed": "green",
    "workflow_errored": "red", "workflow_terminated": "red", "step_errored": "red",
    "attempt_errored": "red", "wait_timed_out": "red",
    "workflow_paused": "magenta", "workflow_waiting": "yellow", "workflow_waiting_for_pause": "yellow",
}  # fmt: skip


def describe_event(event: dict[str, Any]) -> str:
    """One line of the watch log: local time, type, step and what matters of it."""
    moment = dt.datetime.fromtimestamp(event["timestamp"] / 1000).strftime("%H:%M:%S.%f")[:-3]
    kind = event["type"]
    style = _STYLE.get(kind)
    parts = [moment, f"[{style}]{kind}[/{style}]" if style else kind]
    if event.get("stepName"):
        parts.append(escape(str(event["stepName"])))
    if event.get("attempt"):
        parts.append(f"attempt {event['attempt']}")
    if event.get("durationMs") is not None:
        parts.append(f"{event['durationMs'] / 1000:g}s")
    if event.get("eventType"):
        parts.append(f"waits for {escape(event['eventType'])!s}")
    error = event.get("error")
    if error:
        parts.append(
            f"[red]{escape(error.get('name', ''))}[/red]: {escape(error.get('message', ''))}"
        )
    return "  ".join(parts)


def watch(
    url: str,
    token: str | None,
    account: str | None,
    workflow: str,
    instance_id: str,
    *,
    as_json: bool = False,
    console: Console | None = None,
    timeout: float = 30.0,
) -> None:
    """Print the instance's events as they happen; return after its terminal event.

    Raises :class:`PyflowError` (instance not found, no gateway...)."""
    console = console or Console(highlight=False, soft_wrap=True)
    path = f"{url.rstrip('/')}/client/v4/accounts/{account or 'local'}/workflows" + rest_path(
        workflow, "instances", instance_id, "subscribe"
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cursor, failures = 0, 0
    with httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, read=None)) as client:
        while True:
            try:
                for event in _events(client, path, cursor):
                    failures = 0
                    if event.get("eventId") is not None:
                        cursor = event["eventId"]
                    console.print(
                        json.dumps(event) if as_json else describe_event(event), markup=not as_json
                    )
                    if event["type"] in (
                        "workflow_completed",
                        "workflow_errored",
                        "workflow_terminated",
                    ):
                        return
                return  # the server ended the stream: the instance is final
            except (httpx.TransportError, SSEError) as exc:
                failures += 1
                if failures > MAX_RECONNECTS:
                    raise EngineUnavailable(
                        f"lost the event stream of {instance_id!r}: {exc}"
                    ) from None
                time.sleep(RECONNECT_SECONDS)


def _events(client: httpx.Client, path: str, cursor: int) -> Any:
    with connect_sse(client, "GET", path, params={"cursor": cursor}) as source:
        if source.response.status_code >= 400:
            source.response.read()
            raise error_from_response(source.response)
        for sse in source.iter_sse():
            if sse.data:
                yield json.loads(sse.data)


__all__ = ["PyflowError", "describe_event", "watch"]
