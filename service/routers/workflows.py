"""``/client/v4/accounts/{account_id}/workflows[/{workflow_name}]``: list, get, delete."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Query, Request

from service.auth import require_token
from service.errors import envelope
from service.schemas import WorkflowOut

from . import ACCOUNT_PREFIX, transport, whole

router = APIRouter(prefix=ACCOUNT_PREFIX, dependencies=[Depends(require_token)], tags=["workflows"])


def page_info(page: int, per_page: int, count: int, total: int) -> dict[str, int]:
    """Cloudflare's ``result_info`` for a page of a list."""
    return {
        "page": page,
        "per_page": per_page,
        "count": count,
        "total_count": total,
        "total_pages": max(1, math.ceil(total / per_page)),
    }


@router.get("")
async def list_workflows(
    request: Request,
    page: float = Query(1, ge=1),
    per_page: float = Query(50, ge=1, le=1000),
    search: str | None = Query(None, description="only workflows whose name contains this"),
) -> dict:
    """Workflows, by name; ``search`` filters names (case-insensitive substring)."""
    page, per_page = whole(page, "page"), whole(per_page, "per_page")
    infos = await transport(request).list_workflows()
    if search:
        infos = [w for w in infos if search.lower() in w.name.lower()]
    start = (page - 1) * per_page
    chosen = infos[start : start + per_page]
    return envelope(
        [WorkflowOut.of(w).model_dump(mode="json") for w in chosen],
        result_info=page_info(page, per_page, len(chosen), len(infos)),
    )


@router.get("/{workflow_name}")
async def get_workflow(request: Request, workflow_name: str) -> dict:
    info = await transport(request).get_workflow(workflow_name)
    return envelope(WorkflowOut.of(info).model_dump(mode="json"))


@router.delete("/{workflow_name}")
async def delete_workflow(request: Request, workflow_name: str) -> dict:
    """Delete a workflow and all its instances (live ones are terminated first)."""
    await transport(request).delete_workflow(workflow_name)
    return envelope({"status": "ok", "success": True})
