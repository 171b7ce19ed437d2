"""``/client/v4/accounts/{account_id}/workflows/{workflow_name}/versions[/{id}[/graph]]``.

The workflow's versions (one per registration whose code or config differed),
as the cloudflare SDK's ``workflows.versions.list/get/graph`` read them: ids,
times in ISO 8601, ``has_dag``, ``language: "python"``, settings, and the
version graph derived from the Python source.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from typing_extensions import Self

from pyflow_actors.errors import VersionNotFound, WorkflowNotFound
from pyflow_actors.versions import (
    VersionConcurrency,
    VersionInfo,
    VersionLimits,
    VersionRetention,
)
from service.auth import require_token
from service.envelope import Envelope, Page, ResultInfo, error_responses
from service.schemas import IsoTime, workflow_id

from . import ACCOUNT_PREFIX, transport, whole

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/versions",
    dependencies=[Depends(require_token)],
    tags=["versions"],
)


class VersionOut(BaseModel):
    """Cloudflare's ``VersionGetResponse`` (also each ``VersionListResponse`` item)."""

    id: str
    workflow_id: str
    class_name: str
    created_on: IsoTime
    modified_on: IsoTime
    has_dag: bool
    language: Literal["python"] = "python"
    concurrency: VersionConcurrency | None = None
    default_retention: VersionRetention | None = None
    limits: VersionLimits | None = None

    @classmethod
    def of(cls, version: VersionInfo) -> Self:
        fields = version.model_dump(exclude={"graph", "workflow"})
        return cls(**fields, workflow_id=workflow_id(version.workflow))


class VersionGraphOut(BaseModel):
    """Cloudflare's ``VersionGraphResponse``: ``graph`` is null when there is no DAG."""

    id: str
    workflow_id: str
    class_name: str
    created_on: IsoTime
    modified_on: IsoTime
    graph: dict[str, Any] | None = None


@router.get("", responses=error_responses(WorkflowNotFound))
async def list_versions(
    request: Request,
    workflow_name: str,
    page: float = Query(1, ge=1),
    per_page: float = Query(50, ge=1, le=1000),
) -> Page[VersionOut]:
    """The workflow's versions, newest first."""
    page_number, page_size = whole(page, "page"), whole(per_page, "per_page")
    versions = await transport(request).list_versions(workflow_name)
    start = (page_number - 1) * page_size
    chosen = versions[start : start + page_size]
    return Page[VersionOut](
        result=[VersionOut.of(v) for v in chosen],
        result_info=ResultInfo.of(page_number, page_size, len(chosen), len(versions)),
    )


@router.get("/{version_id}", responses=error_responses(WorkflowNotFound, VersionNotFound))
async def get_version(
    request: Request, workflow_name: str, version_id: str
) -> Envelope[VersionOut]:
    version = await transport(request).get_version(workflow_name, version_id)
    return Envelope[VersionOut](result=VersionOut.of(version))


@router.get("/{version_id}/graph", responses=error_responses(WorkflowNotFound, VersionNotFound))
async def get_version_graph(
    request: Request, workflow_name: str, version_id: str
) -> Envelope[VersionGraphOut]:
    """The version graph (``graph`` is null when the version has no DAG)."""
    version = await transport(request).get_version(workflow_name, version_id)
    out = VersionOut.of(version)
    return Envelope[VersionGraphOut](
        result=VersionGraphOut(
            id=out.id,
            workflow_id=out.workflow_id,
            class_name=out.class_name,
            created_on=out.created_on,
            modified_on=out.modified_on,
            graph=version.graph,
        )
    )
