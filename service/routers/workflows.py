"""``/client/v4/accounts/{account_id}/workflows[/{workflow_name}]``: list, get,
update (the settings), delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from pyflow_actors.errors import InvalidCron, ValidationError, WorkflowNotFound
from service.auth import require_token
from service.envelope import Envelope, Page, ResultInfo, error_responses
from service.openapi_docs import json_body
from service.schemas import WorkflowDeletedOut, WorkflowOut
from service.workflow_settings import WorkflowUpdateOut, WorkflowUpdateRequest, workflow_out

from . import ACCOUNT_PREFIX, read_request, transport, whole

router = APIRouter(prefix=ACCOUNT_PREFIX, dependencies=[Depends(require_token)], tags=["workflows"])


@router.get("", responses=error_responses())
async def list_workflows(
    request: Request,
    page: float = Query(1, ge=1),
    per_page: float = Query(50, ge=1, le=1000),
    search: str | None = Query(None, description="only workflows whose name contains this"),
) -> Page[WorkflowOut]:
    """Workflows, by name; ``search`` filters names (case-insensitive substring)."""
    page_number, page_size = whole(page, "page"), whole(per_page, "per_page")
    infos = await transport(request).list_workflows()
    if search:
        infos = [w for w in infos if search.lower() in w.name.lower()]
    start = (page_number - 1) * page_size
    chosen = infos[start : start + page_size]
    return Page[WorkflowOut](
        result=[workflow_out(w) for w in chosen],
        result_info=ResultInfo.of(page_number, page_size, len(chosen), len(infos)),
    )


@router.get("/{workflow_name}", responses=error_responses(WorkflowNotFound))
async def get_workflow(request: Request, workflow_name: str) -> Envelope[WorkflowOut]:
    """One workflow, with its instance counts by status."""
    info = await transport(request).get_workflow(workflow_name)
    return Envelope[WorkflowOut](result=workflow_out(info))


@router.put(
    "/{workflow_name}",
    responses=error_responses(WorkflowNotFound, ValidationError, InvalidCron),
    openapi_extra=json_body(
        WorkflowUpdateRequest, description="the workflow's settings", required=True
    ),
)
async def update_workflow(request: Request, workflow_name: str) -> Envelope[WorkflowUpdateOut]:
    """Replace the workflow's settings: ``concurrency.limit``, ``default_retention``,
    ``limits.steps``, ``schedules`` (the body of the SDK's ``workflows.update``)."""
    req = await read_request(request, WorkflowUpdateRequest)
    current = await transport(request).get_workflow(workflow_name)
    info = await transport(request).update_workflow(workflow_name, req.settings(current))
    return Envelope[WorkflowUpdateOut](result=WorkflowUpdateOut.of(info))


@router.delete("/{workflow_name}", responses=error_responses(WorkflowNotFound))
async def delete_workflow(request: Request, workflow_name: str) -> Envelope[WorkflowDeletedOut]:
    """Delete a workflow and all its instances (live ones are terminated first)."""
    await transport(request).delete_workflow(workflow_name)
    return Envelope[WorkflowDeletedOut](result=WorkflowDeletedOut())
