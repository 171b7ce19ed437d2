"""The dashboard's pages: workflows, a workflow's instances, one instance.

Every read goes through the gateway's transport (what the REST API reads):
``list_workflows`` and ``stats`` for the overview, ``list_instances`` one page
at a time (:mod:`.listing`), ``describe``
and the version graph for an instance.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from pyflow_actors.analytics.stats import EngineStats
from pyflow_actors.errors import InstanceNotFound, PyflowError
from pyflow_actors.models import InstanceDetail, InstancePage, InstanceStatus

from .charts import runs_chart
from .diagram import Box, diagram
from .listing import PER_PAGE, Listing
from .pages import TEMPLATES, render, scoped, transport
from .restart_points import restart_points
from .sessions import DashSession
from .stream import EVENT_NAMES
from .timeline import timeline

router = APIRouter(prefix="/dash/a/{account}", include_in_schema=False)

RUNNING = (InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE)


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
            "queued": stats.ready
            if stats and stats.ready is not None
            else totals[InstanceStatus.QUEUED.value],
            "hibernated": stats.hibernated if stats else None,
            "chart": chart,
        }
        return render(request, "workflows.html", context, session=session)

    return await scoped(request, account, view)


async def _listing_context(
    request: Request, account: str, workflow: str, listing: Listing
) -> dict[str, Any]:
    engine = transport(request)
    info = await engine.get_workflow(workflow)
    if listing.search:
        try:
            found = [await engine.status(workflow, listing.search)]
        except InstanceNotFound:
            found = []
        page = InstancePage(instances=found, total=len(found), page=1, per_page=PER_PAGE)
    else:
        page = await engine.list_instances(workflow, **listing.arguments())
    query = listing.query()
    return {
        "account": account,
        "workflow": info,
        "page": page,
        "listing": listing,
        "query": query,
        # The same query on the table alone (what the page's script polls).
        "rows_url": f"/dash/a/{account}/workflows/{workflow}/rows?{request.url.query}",
        "next_cursor": None if listing.search else listing.next_cursor(page),
    }


def _listing(
    status: str | None = Query(None),
    search: str | None = Query(None, max_length=200),
    since: str | None = Query(None),
    until: str | None = Query(None),
    order: str | None = Query(None),
    cursor: str | None = Query(None),
) -> Listing:
    """The instances list's filters, order and cursor, from the query string."""
    return Listing.of(status, search, since, until, order, cursor)


@router.get("/workflows/{workflow}")
async def instances(
    request: Request, account: str, workflow: str, listing: Listing = Depends(_listing)
) -> Response:
    """One page of a workflow's instances (filters, id search, order, cursor)."""

    async def view(session: DashSession) -> Response:
        context = await _listing_context(request, account, workflow, listing)
        context["boxes"] = await _latest_diagram(request, workflow)
        return render(request, "instances.html", context, session=session)

    return await scoped(request, account, view)


@router.get("/workflows/{workflow}/rows")
async def instance_rows(
    request: Request, account: str, workflow: str, listing: Listing = Depends(_listing)
) -> Response:
    """The same page's table alone, which the instances view's script polls."""

    async def view(session: DashSession) -> Response:
        context = await _listing_context(request, account, workflow, listing)
        return render(request, "_rows.html", context, session=session)

    return await scoped(request, account, view)


async def _latest_diagram(request: Request, workflow: str) -> list[Box] | None:
    """The boxes of the workflow's newest version's graph (no instance on it)."""
    try:
        versions = await transport(request).list_versions(workflow)
        if not versions:
            return None
        version = await transport(request).get_version(workflow, versions[0].id)
    except PyflowError:
        return None
    return diagram(version.graph) if version.graph else None


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
    context = {
        "account": account,
        "workflow": workflow,
        "detail": detail,
        "info": detail.status,
        "rows": timeline(detail),
        "boxes": await _diagram(request, detail),
    }
    return live_part(context)


def live_part(context: dict[str, Any]) -> dict[str, Any]:
    """``context`` with the instance's live part rendered once (``live_body``) and its
    digest (``live_digest``): the page's script swaps the part only when that changes."""
    body = TEMPLATES.env.get_template("_live_body.html").render(context)
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return {**context, "live_body": Markup(body), "live_digest": digest}


@router.get("/workflows/{workflow}/instances/{instance}")
async def instance_page(
    request: Request,
    account: str,
    workflow: str,
    instance: str,
    done: str | None = None,
    step: str = Query("", max_length=300),
) -> Response:
    """An instance: status, params, output or error, step timeline, diagram, actions."""

    async def view(session: DashSession) -> Response:
        context = await _instance_context(request, account, workflow, instance)
        context["done"] = done if done in ACTION_WORDS else None
        context["done_words"] = ACTION_WORDS.get(done or "", "").format(step=step)
        context["event_names"] = EVENT_NAMES
        context["restart_points"] = restart_points(context["detail"].steps)
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
    "restart-from": "Restarted from step {step}.",
    "event": "Event sent.",
}
