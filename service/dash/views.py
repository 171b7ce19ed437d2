"""The dashboard's pages: workflows, a workflow's instances, one instance.

Every read goes through the gateway's transport (what the REST API reads):
``list_workflows`` and ``stats`` for the overview, ``list_instances`` one page
at a time (a cursor pins the listing as its first page saw it), ``describe``
and the version graph for an instance.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from pyflow_actors.analytics.stats import EngineStats
from pyflow_actors.errors import InstanceNotFound, PyflowError, ValidationError
from pyflow_actors.models import InstanceDetail, InstancePage, InstanceStatus

from .charts import runs_chart
from .diagram import Box, diagram
from .pages import render, scoped, transport
from .sessions import DashSession
from .timeline import timeline

router = APIRouter(prefix="/dash/a/{account}", include_in_schema=False)

PER_PAGE = 25
RUNNING = (InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE)


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """A cursor from a previous page: ``{"page", "before"}``; a bad one is a 400."""
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(state, dict) or not isinstance(state.get("page"), int):
            raise ValueError
        return state
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "the page cursor is invalid: start again from the first page"
        ) from None


def next_cursor(state: dict[str, Any], shown: InstancePage) -> str | None:
    """The cursor after ``shown``; the first page pins ``before`` to its newest instance."""
    if (shown.page - 1) * shown.per_page + len(shown.instances) >= shown.total:
        return None
    before = state.get("before")
    if before is None and shown.instances:
        before = shown.instances[0].created_at
    return encode_cursor({"page": shown.page + 1, "before": before})


def parse_status(value: str | None) -> InstanceStatus | None:
    if not value:
        return None
    try:
        return InstanceStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in InstanceStatus)
        raise ValidationError(f"status {value!r} is unknown: use one of {allowed}") from None


async def _stats(request: Request) -> EngineStats | None:
    ask = getattr(transport(request), "stats", None)
    if ask is None:
        return None
    try:
        raw: dict[str, Any] = await ask()
    except PyflowError:
        return None
    return EngineStats.model_validate(raw)


@router.get("")
async def workflows(request: Request, account: str) -> Response:
    """Every workflow with its instance counts by status, and runs over time."""

    async def view(session: DashSession) -> Response:
        infos = await transport(request).list_workflows()
        stats = await _stats(request)
        chart = await runs_chart(transport(request), [w.name for w in infos])
        totals = {s.value: sum(w.instances.get(s.value, 0) for w in infos) for s in InstanceStatus}
        context = {
            "account": account,
            "workflows": infos,
            "running": sum(totals[s.value] for s in RUNNING),
            "queued": stats.ready if stats and stats.ready is not None else totals["queued"],
            "hibernated": stats.hibernated if stats else None,
            "chart": chart,
        }
        return render(request, "workflows.html", context, session=session)

    return await scoped(request, account, view)


@router.get("/workflows/{workflow}")
async def instances(
    request: Request,
    account: str,
    workflow: str,
    status: str | None = Query(None),
    search: str | None = Query(None, max_length=200),
    cursor: str | None = Query(None),
) -> Response:
    """One page of a workflow's instances, newest first; ``search`` finds one id."""

    async def view(session: DashSession) -> Response:
        engine = transport(request)
        info = await engine.get_workflow(workflow)
        chosen = parse_status(status)
        if search and search.strip():
            try:
                found = await engine.status(workflow, search.strip())
                page = InstancePage(instances=[found], total=1, page=1, per_page=PER_PAGE)
            except InstanceNotFound:
                page = InstancePage(instances=[], total=0, page=1, per_page=PER_PAGE)
            state: dict[str, Any] = {"page": 1, "before": None}
        else:
            state = decode_cursor(cursor) if cursor else {"page": 1, "before": None}
            page = await engine.list_instances(
                workflow,
                status=chosen.value if chosen else None,
                page=state["page"],
                per_page=PER_PAGE,
                created_before=state.get("before"),
            )
        context = {
            "account": account,
            "workflow": info,
            "page": page,
            "status": chosen.value if chosen else "",
            "search": search or "",
            "next_cursor": None if search else next_cursor(state, page),
            "first_page": state["page"] == 1,
        }
        return render(request, "instances.html", context, session=session)

    return await scoped(request, account, view)


async def _diagram(request: Request, detail: InstanceDetail) -> list[Box] | None:
    """The boxes of the instance's version graph, ``None`` when it has none."""
    version_id = detail.status.version_id
    if version_id is None:
        return None
    try:
        version = await transport(request).get_version(detail.status.workflow, version_id)
    except PyflowError:
        return None
    return diagram(version.graph, detail.steps) if version.graph else None


async def _instance_context(
    request: Request, account: str, workflow: str, instance: str
) -> dict[str, Any]:
    detail = await transport(request).describe(workflow, instance)
    return {
        "account": account,
        "workflow": workflow,
        "detail": detail,
        "info": detail.status,
        "rows": timeline(detail),
        "boxes": await _diagram(request, detail),
    }


@router.get("/workflows/{workflow}/instances/{instance}")
async def instance_page(
    request: Request, account: str, workflow: str, instance: str, done: str | None = None
) -> Response:
    """An instance: status, params, output or error, step timeline, diagram, actions."""

    async def view(session: DashSession) -> Response:
        context = await _instance_context(request, account, workflow, instance)
        context["done"] = done if done in ACTION_WORDS else None
        context["done_words"] = ACTION_WORDS.get(done or "", "")
        return render(request, "instance.html", context, session=session)

    return await scoped(request, account, view)


@router.get("/workflows/{workflow}/instances/{instance}/live")
async def instance_live(request: Request, account: str, workflow: str, instance: str) -> Response:
    """The live part of an instance's page (status, timeline, diagram), which its script polls."""

    async def view(session: DashSession) -> Response:
        context = await _instance_context(request, account, workflow, instance)
        return render(request, "_live.html", context, session=session)

    return await scoped(request, account, view)


@router.get("/workflows/{workflow}/instances")
async def instances_redirect(account: str, workflow: str) -> Response:
    return RedirectResponse(f"/dash/a/{account}/workflows/{workflow}", status_code=303)


ACTION_WORDS = {
    "pause": "Pause requested.",
    "resume": "Resumed.",
    "terminate": "Terminated.",
    "restart": "Restarted from the beginning.",
    "event": "Event sent.",
}
