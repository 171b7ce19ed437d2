"""The HTTP transport: the same :class:`Transport` through the gateway's REST API.

.. code-block:: python

    client = Client.connect(url="http://127.0.0.1:8787", token="...", account="local")

It speaks Cloudflare's Workflows REST API v4 (plus the gateway's extension
fields, which make the round trip lossless) and rebuilds the engine's errors
from the v4 envelope, so both transports raise the same error classes.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

import httpx

from ..analytics.query import AnalyticsQuery, AnalyticsResult
from ..errors import (
    Conflict,
    EngineUnavailable,
    Forbidden,
    InstanceAlreadyExists,
    InstanceIdRepeated,
    NotFound,
    PayloadTooLarge,
    PyflowError,
    RateLimited,
    Unauthorized,
    ValidationError,
    error_class_for_code,
)
from ..idempotency import idempotency_header
from ..limits import validate_instance_id
from ..models import (
    BatchCreateError,
    BatchCreateResult,
    BatchDeleteResult,
    CreateOptions,
    InstanceDetail,
    InstanceLogs,
    InstancePage,
    InstanceStatusInfo,
    LogLine,
    RestartFrom,
    WorkflowInfo,
    WorkflowSettings,
)
from ..retention import Retention
from ..serialization import dumps
from ..subscriptions.pull import DeadLetter
from ..versions import VersionInfo
from .analytics_graphql import graphql_request, graphql_result
from .rest_shapes import (
    instance_detail,
    iso,
    seconds,
    status_info,
    version_info,
    workflow_info,
)
from .transport import ControlAction

DEFAULT_ACCOUNT = "local"
DEFAULT_TIMEOUT = 60.0
_DOTTED_CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")

_BY_STATUS: dict[int, type[PyflowError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    502: EngineUnavailable,
    503: EngineUnavailable,
    504: EngineUnavailable,
}


def rest_path(*parts: str) -> str:
    """``/a/b`` with each part URL-quoted (ids and names are path segments)."""
    return "".join("/" + quote(p, safe="") for p in parts)


# A batch entry whose id is taken (it exists, or came earlier): skipped by the array form.
_TAKEN = (InstanceAlreadyExists.numeric_code, InstanceIdRepeated.numeric_code)


def error_from_message(message: str, status: int = 400) -> PyflowError:
    """The :class:`PyflowError` of ``"<dotted code>: <message>"``."""
    code, sep, text = message.partition(": ")
    cls = error_class_for_code(code) if sep else PyflowError
    if cls is not PyflowError or code == PyflowError.code:
        return cls(text)
    if sep and _DOTTED_CODE.match(code):
        message = text  # a code this client does not know: keep the message
    return _BY_STATUS.get(status, PyflowError)(message)


def error_from_response(response: httpx.Response) -> PyflowError:
    """The :class:`PyflowError` an error response stands for.

    The gateway writes ``"<dotted code>: <message>"`` in ``errors[0].message``;
    anything else (a proxy's error page, say) is mapped by HTTP status.
    """
    message = f"HTTP {response.status_code}"
    try:
        errors = response.json().get("errors") or []
        message = str(errors[0].get("message") or message)
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    return error_from_message(message, response.status_code)


class HttpTransport:
    """Calls the gateway at ``url`` (the server root, e.g. ``http://127.0.0.1:8787``).

    ``token`` defaults to ``PYFLOW_TOKEN``; ``account`` to ``PYFLOW_ACCOUNT``
    or ``local``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        account: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("PYFLOW_TOKEN")
        self.account = account or os.environ.get("PYFLOW_ACCOUNT") or DEFAULT_ACCOUNT
        self.base = f"{self.url}/client/v4/accounts/{quote(self.account, safe='')}/workflows"
        self._timeout = timeout
        self._http_transport = transport
        self._http: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------
    # plumbing

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.AsyncClient(
                headers=headers, timeout=self._timeout, transport=self._http_transport
            )
        return self._http

    async def request(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        send_body: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, Any] | None]:
        """One REST call under ``.../workflows``: ``(result, result_info)`` or a PyflowError."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        content = dumps(body, what="request body").encode() if send_body else None
        sent = {**({"Content-Type": "application/json"} if send_body else {}), **(headers or {})}
        try:
            response = await self._client().request(
                method, self.base + path, params=query, content=content, headers=sent
            )
        except httpx.TimeoutException:
            raise EngineUnavailable(
                f"the pyflow gateway at {self.url} did not answer within {self._timeout:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"cannot reach the pyflow gateway at {self.url}: {exc}: is `pyflow dev` running?"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            data = response.json()
            return data["result"], data.get("result_info")
        except (ValueError, KeyError, TypeError):
            raise PyflowError(
                f"the server at {self.url} did not answer with a v4 envelope "
                f"(HTTP {response.status_code}): is it a pyflow gateway?"
            ) from None

    # ------------------------------------------------------------------
    # Transport

    async def list_workflows(self) -> list[WorkflowInfo]:
        out: list[WorkflowInfo] = []
        page = 1
        while True:
            result, info = await self.request("GET", params={"page": page, "per_page": 1000})
            out.extend(workflow_info(w) for w in result)
            if not result or not info or page >= int(info.get("total_pages", 1)):
                return out
            page += 1

    async def get_workflow(self, workflow: str) -> WorkflowInfo:
        result, _ = await self.request("GET", rest_path(workflow))
        return workflow_info(result)

    async def delete_workflow(self, workflow: str) -> None:
        await self.request("DELETE", rest_path(workflow))

    async def create(
        self, workflow: str, options: list[CreateOptions], *, batch: bool
    ) -> list[InstanceStatusInfo]:
        items = _items(options)
        if batch:
            # Cloudflare's array form: an entry refused for a reason other than its id
            # being taken refuses the call (the gateway answers per entry).
            for o in options:
                if o.id is not None:
                    validate_instance_id(o.id)
            result, info = await self.request(
                "POST", rest_path(workflow, "instances", "batch"), body=items, send_body=True
            )
            refused = [e for e in (info or {}).get("errors") or [] if e["code"] not in _TAKEN]
            if refused:
                raise error_from_message(str(refused[0]["message"]))
            return [status_info(workflow, r) for r in result]
        if len(options) != 1:
            raise ValidationError("create takes exactly one instance; use create_batch for more")
        result, _ = await self.request(
            "POST", rest_path(workflow, "instances"), body=items[0], send_body=True
        )
        return [status_info(workflow, result)]

    async def create_entries(
        self, workflow: str, options: list[CreateOptions]
    ) -> BatchCreateResult:
        result, info = await self.request(
            "POST", rest_path(workflow, "instances", "batch"), body=_items(options), send_body=True
        )
        errors = (info or {}).get("errors") or []
        return BatchCreateResult(
            created=[status_info(workflow, r) for r in result],
            errors=[BatchCreateError.model_validate(e) for e in errors],
        )

    async def status(self, workflow: str, instance_id: str) -> InstanceStatusInfo:
        result, _ = await self.request(
            "GET", rest_path(workflow, "instances", instance_id, "status")
        )
        return status_info(workflow, result)

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetail:
        result, _ = await self.request("GET", rest_path(workflow, "instances", instance_id))
        return instance_detail(workflow, instance_id, result)

    async def list_instances(
        self,
        workflow: str,
        *,
        status: str | None = None,
        page: int = 1,
        per_page: int = 50,
        reverse: bool = False,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> InstancePage:
        params = {
            "status": status,
            "page": page,
            "per_page": per_page,
            "direction": "asc" if reverse else "desc",
            "date_start": iso(created_after) if created_after is not None else None,
            "date_end": iso(created_before) if created_before is not None else None,
        }
        result, info = await self.request("GET", rest_path(workflow, "instances"), params=params)
        info = info or {}
        return InstancePage(
            instances=[status_info(workflow, r) for r in result],
            total=int(info.get("total_count", len(result))),
            page=int(info.get("page", page)),
            per_page=int(info.get("per_page", per_page)),
        )

    async def control(
        self,
        workflow: str,
        instance_id: str,
        action: ControlAction,
        restart_from: RestartFrom | None = None,
        rollback: bool = False,
        idempotency_key: str | None = None,
    ) -> InstanceStatusInfo:
        body: dict[str, Any] = {"status": action}
        if restart_from is not None:
            body["from"] = restart_from.model_dump()
        if rollback:
            body["rollback"] = True
        result, _ = await self.request(
            "PATCH",
            rest_path(workflow, "instances", instance_id, "status"),
            body=body,
            send_body=True,
            headers=idempotency_header(idempotency_key),
        )
        return status_info(workflow, result)

    async def delete_instances(self, workflow: str, ids: list[str]) -> BatchDeleteResult:
        result, _ = await self.request(
            "POST",
            rest_path(workflow, "instances", "batch", "delete"),
            body={"instances": list(ids)},
            send_body=True,
        )
        return BatchDeleteResult.model_validate(result)

    async def update_workflow(self, workflow: str, settings: WorkflowSettings) -> WorkflowInfo:
        current, _ = await self.request("GET", rest_path(workflow))
        body: dict[str, Any] = {
            "class_name": current["class_name"],
            "script_name": current["script_name"],
            "schedules": [{"cron": c} for c in settings.schedules],
        }
        if settings.max_running is not None:
            body["concurrency"] = {"limit": settings.max_running}
        if settings.max_steps is not None:
            body["limits"] = {"steps": settings.max_steps}
        if settings.default_retention is not None:
            body["default_retention"] = _ms_retention(settings.default_retention)
        await self.request("PUT", rest_path(workflow), body=body, send_body=True)
        result, _ = await self.request("GET", rest_path(workflow))
        return workflow_info(result)

    async def send_event(
        self, workflow: str, instance_id: str, event_type: str, payload: Any
    ) -> None:
        dumps(payload, what="event payload")
        await self.request(
            "POST",
            rest_path(workflow, "instances", instance_id, "events", event_type),
            body=payload,
            send_body=True,
        )

    async def list_versions(self, workflow: str) -> list[VersionInfo]:
        out: list[VersionInfo] = []
        page = 1
        while True:
            result, info = await self.request(
                "GET", rest_path(workflow, "versions"), params={"page": page, "per_page": 100}
            )
            out.extend(version_info(workflow, v) for v in result)
            if not result or not info or page >= int(info.get("total_pages", 1)):
                return out
            page += 1

    async def get_version(self, workflow: str, version_id: str) -> VersionInfo:
        result, _ = await self.request("GET", rest_path(workflow, "versions", version_id))
        drawn, _ = await self.request("GET", rest_path(workflow, "versions", version_id, "graph"))
        return version_info(workflow, result, drawn.get("graph"))

    async def instance_logs(
        self, workflow: str, instance_id: str, *, after: int = 0, limit: int = 1000
    ) -> InstanceLogs:
        result, _ = await self.request(
            "GET",
            rest_path(workflow, "instances", instance_id, "logs"),
            params={"after": after, "limit": limit},
        )
        lines = [
            LogLine(
                n=line["n"],
                time=seconds(line["timestamp"]) or 0.0,
                step=line.get("step"),
                stream=line["stream"],
                level=line.get("level"),
                message=line["message"],
            )
            for line in result["lines"]
        ]
        return InstanceLogs(
            lines=lines, next_after=result["next_after"], truncated=result["truncated"]
        )

    async def analytics_query(self, query: AnalyticsQuery) -> AnalyticsResult:
        """The query through the gateway's GraphQL API (``POST /client/v4/graphql``)."""
        try:
            response = await self._client().post(
                f"{self.url}/client/v4/graphql", json=graphql_request(query, self.account)
            )
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"cannot reach the pyflow gateway at {self.url}: {exc}"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        return graphql_result(body, query)

    async def dead_letters(self, subscription: str | None, limit: int) -> list[DeadLetter]:
        """Subscription messages that kept failing, newest first."""
        url = f"{self.url}/client/v4/accounts/{quote(self.account, safe='')}/event_subscriptions"
        query: dict[str, str | int] = {"limit": limit}
        if subscription:
            query["subscription"] = subscription
        try:
            response = await self._client().get(f"{url}/dead_letters", params=query)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"cannot reach the pyflow gateway at {self.url}: {exc}"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return [DeadLetter(**d) for d in response.json()["result"]]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _ms_retention(retention: Retention) -> dict[str, int]:
    """``instance_retention`` as REST takes it: milliseconds, unset keys left out."""
    return {k: v for k, v in retention.to_wire().items() if v is not None}


def _items(options: list[CreateOptions]) -> list[dict[str, Any]]:
    """Create bodies as REST takes them."""
    for o in options:  # the same error as the engine's for a value JSON cannot hold
        dumps(o.params, what="params")
    return [
        {
            "params": o.params,
            **({"instance_id": o.id} if o.id is not None else {}),
            **({"instance_retention": _ms_retention(o.retention)} if o.retention else {}),
        }
        for o in options
    ]
