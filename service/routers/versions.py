"""``/client/v4/accounts/{account_id}/workflows/{workflow_name}/versions[/{id}[/graph]]``.

The workflow's versions (one per registration whose code or config differed),
as the cloudflare SDK's ``workflows.versions.list/get/graph`` read them: ids,
times in ISO 8601, ``has_dag``, ``language: "python"``, settings, and the
version graph derived from the Python source.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from pyflow_actors.versions import VersionInfo
from service.auth import require_token
from service.errors import envelope
from service.schemas import iso, workflow_id

from . import ACCOUNT_PREFIX, transport, whole
from .workflows import page_info

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/versions",
    dependencies=[Depends(require_token)],
    tags=["versions"],
)


def render_version(version: VersionInfo) -> dict[str, Any]:
    """Cloudflare's ``VersionGetResponse`` (also each ``VersionListResponse`` item)."""
    out = version.model_dump(mode="json", exclude={"graph", "workflow"}, exclude_none=True)
    out["workflow_id"] = workflow_id(version.workflow)
    out["created_on"] = iso(version.created_on)
    out["modified_on"] = iso(version.modified_on)
    return out


@router.get("")
async def list_versions(
    request: Request,
    workflow_name: str,
    page: float = Query(1, ge=1),
    per_page: float = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    """The workflow's versions, newest first."""
    page, per_page = whole(page, "page"), whole(per_page, "per_page")
    versions = await transport(request).list_versions(workflow_name)
    start = (page - 1) * per_page
    chosen = versions[start : start + per_page]
    return envelope(
        [render_version(v) for v in chosen],
        result_info=page_info(page, per_page, len(chosen), len(versions)),
    )


@router.get("/{version_id}")
async def get_version(request: Request, workflow_name: str, version_id: str) -> dict[str, Any]:
    version = await transport(request).get_version(workflow_name, version_id)
    return envelope(render_version(version))


@router.get("/{version_id}/graph")
async def get_version_graph(
    request: Request, workflow_name: str, version_id: str
) -> dict[str, Any]:
    """The version graph (``graph`` is null when the version has no DAG)."""
    version = await transport(request).get_version(workflow_name, version_id)
    out = {
        key: value
        for key, value in render_version(version).items()
        if key in ("id", "workflow_id", "class_name", "created_on", "modified_on")
    }
    out["graph"] = version.graph
    return envelope(out)
