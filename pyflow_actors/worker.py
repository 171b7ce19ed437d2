"""What a Worker is made of: ``WorkerEntrypoint``, ``Request``, ``Response``, and loading one.

A Worker is the user's own HTTP app next to their workflows, as on Cloudflare:
``name`` and ``main = "entry.py"`` at the top of ``pyflow.toml`` declare it, and
the gateway serves it under ``/workers/<name>/``. Its module has either a
``WorkerEntrypoint`` subclass (``Default`` by convention)

.. code-block:: python

    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            instance = await self.env.MY_WORKFLOW.create({"params": await request.json()})
            return Response.json({"id": instance.id})

or a module-level ``async def on_fetch(request, env)``. ``scheduled(self,
event, env, ctx)`` (or ``on_scheduled(event, env, ctx)``) runs on the
``[triggers] crons``. Pure Python: no web framework here; the gateway converts
its own requests to :class:`Request` and :class:`Response` back.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, WorkerFailed
from .serialization import dumps


class Headers(Mapping[str, str]):
    """HTTP headers, case-insensitive: ``request.headers.get("content-type")``."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        self._items: dict[str, tuple[str, str]] = {}
        for key, value in pairs:
            self._items[key.lower()] = (key, str(value))

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


class Request:
    """The request a Worker's ``fetch`` receives (the Workers ``Request`` surface).

    ``url`` is the Worker's own URL: the gateway's ``/workers/<name>`` prefix is
    taken off, so routing on ``urlparse(request.url).path`` works as on Cloudflare.
    """

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.url, self.method, self.headers = url, method.upper(), Headers(headers)
        self._body = body

    async def text(self) -> str:
        return self._body.decode("utf-8", errors="replace")

    async def json(self) -> Any:
        """The body as JSON (``ValueError`` if it is not JSON, as ``json.loads`` raises)."""
        return json.loads(self._body or b"null")

    async def bytes(self) -> bytes:
        return self._body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class Response:
    """What ``fetch`` returns: ``Response("text")``, ``Response.json(data, status=201)``."""

    def __init__(
        self,
        body: str | bytes | None = None,
        status: int = 200,
        status_text: str = "",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if not isinstance(body, str | bytes | type(None)):
            raise TypeError(
                f"Response body must be str or bytes, not {type(body).__name__}: "
                "use Response.json(data) for data"
            )
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.status, self.status_text = int(status), status_text
        self.headers = Headers(headers)
        if isinstance(body, str) and "content-type" not in self.headers:
            self.headers = Headers(
                [*self.headers.items(), ("content-type", "text/plain;charset=UTF-8")]
            )

    @classmethod
    def json(
        cls,
        data: Any,
        status: int = 200,
        status_text: str = "",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Response:
        """A JSON response (``content-type: application/json``)."""
        merged = Headers([("content-type", "application/json"), *Headers(headers).items()])
        return cls(dumps(data, what="Response.json data").encode(), status, status_text, merged)

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> Response:
        return cls(None, status, headers={"location": url})

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


class ExecutionContext:
    """``ctx``: ``wait_until(awaitable)`` keeps work going after the response."""

    def __init__(self, tasks: set[asyncio.Future[Any]] | None = None) -> None:
        # asyncio holds tasks weakly: the owner of ``tasks`` (the gateway) keeps them alive.
        self.tasks: set[asyncio.Future[Any]] = set() if tasks is None else tasks

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    waitUntil = wait_until  # noqa: N815 - Cloudflare's JavaScript spelling

    def pass_through_on_exception(self) -> None:
        """Accepted for parity; there is no origin to pass through to."""

    passThroughOnException = pass_through_on_exception  # noqa: N815


@dataclass(frozen=True)
class ScheduledEvent:
    """What ``scheduled`` receives: the ``cron`` that fired and when (ms since the epoch)."""

    cron: str
    scheduledTime: float  # noqa: N815 - Cloudflare's name
    type: str = "scheduled"

    @property
    def scheduled_time(self) -> float:
        return self.scheduledTime


class WorkerEntrypoint:
    """Subclass this and implement ``async def fetch(self, request)``; ``self.env`` holds
    the workflow bindings and ``[vars]``, ``self.ctx`` the execution context."""

    def __init__(self, ctx: ExecutionContext, env: Any) -> None:
        self.ctx, self.env = ctx, env


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Worker:
    """A loaded Worker module and how to call its handlers."""

    name: str
    module: Any
    entrypoint: type[WorkerEntrypoint] | None

    @classmethod
    def load(cls, name: str, main: Path) -> Worker:
        """Import ``main`` (its folder goes on ``sys.path``) and find its handlers."""
        if not main.is_file():
            raise ConfigError(f"worker {name!r}: main {str(main)!r} does not exist")
        folder = str(main.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        loaded = sys.modules.get(main.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "") != main.resolve():
            raise ConfigError(
                f"worker {name!r}: a module named {main.stem!r} is already imported from "
                f"{getattr(loaded, '__file__', None)!r}: rename {main.name}"
            )
        try:
            module = importlib.import_module(main.stem)
        except ModuleNotFoundError as exc:
            hint = (
                ': install the workers module: pip install "pyflow-actors[workers]"'
                if exc.name in ("workers", "js", "pyodide")
                else ""
            )
            raise ConfigError(f"worker {name!r}: cannot import {str(main)!r}: {exc}{hint}") from exc
        except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
            raise ConfigError(f"worker {name!r}: cannot import {str(main)!r}: {exc!r}") from exc
        worker = cls(name=name, module=module, entrypoint=_entrypoint_of(module))
        if worker.entrypoint is None and not callable(getattr(module, "on_fetch", None)):
            raise ConfigError(
                f"worker {name!r}: {main.name} has no WorkerEntrypoint subclass "
                "(class Default(WorkerEntrypoint)) and no on_fetch(request, env)"
            )
        return worker

    @property
    def has_scheduled(self) -> bool:
        return self._handler("scheduled", "on_scheduled") is not None

    async def fetch(self, request: Request, env: Any, ctx: ExecutionContext) -> Response:
        """Call the Worker's ``fetch``; anything but a ``Response`` is a :class:`WorkerFailed`."""
        handler = self._handler("fetch", "on_fetch")
        if handler is None:
            raise WorkerFailed(f"worker {self.name!r} has no fetch handler")
        if self.entrypoint is not None:
            result = await _maybe_await(handler(self.entrypoint(ctx, env), request))
        else:
            result = await _maybe_await(handler(request, env))
        if not isinstance(result, Response):
            raise WorkerFailed(
                f"worker {self.name!r}: fetch returned {type(result).__name__}, not a Response"
            )
        return result

    async def scheduled(self, event: ScheduledEvent, env: Any, ctx: ExecutionContext) -> None:
        handler = self._handler("scheduled", "on_scheduled")
        if handler is None:
            raise WorkerFailed(f"worker {self.name!r} has no scheduled handler")
        if self.entrypoint is not None:
            await _maybe_await(handler(self.entrypoint(ctx, env), event, env, ctx))
        else:
            await _maybe_await(handler(event, env, ctx))

    def _handler(self, method: str, function: str) -> Handler | None:
        if self.entrypoint is not None and _overrides(self.entrypoint, method):
            return getattr(self.entrypoint, method)  # type: ignore[no-any-return]
        found = getattr(self.module, function, None)
        return found if callable(found) else None


def _overrides(cls: type, method: str) -> bool:
    return callable(getattr(cls, method, None))


def _entrypoint_of(module: Any) -> type[WorkerEntrypoint] | None:
    """``Default`` if it is a WorkerEntrypoint, else the one subclass defined in the module."""
    default = getattr(module, "Default", None)
    if inspect.isclass(default) and issubclass(default, WorkerEntrypoint):
        return default
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, WorkerEntrypoint)
        and obj is not WorkerEntrypoint
        and obj.__module__ == module.__name__
    ]
    return found[0] if len(found) == 1 else None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
