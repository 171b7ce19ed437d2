"""Deleting instances: ``DELETE .../instances/{id}`` and
``POST .../instances/batch/delete`` (Cloudflare's ``instance.delete()`` and
``deleteBatch``, the body wrangler sends: ``{"instances": ["id", ...]}``).

A running instance is stopped first (no rollback); its journal, log and
registry row go. The batch answers ``{deleted: [{id}], errors: [{id, code,
message}]}`` per id given; a malformed id fails the whole call before anything
is deleted.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from pyflow_actors.errors import InstanceNotFound, InvalidInstanceId, WorkflowNotFound
from pyflow_actors.models import BatchDeleteResult
from service.auth import require_token
from service.envelope import Envelope, error_responses
from service.openapi_docs import json_body

from . import ACCOUNT_PREFIX, read_request, transport

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/instances",
    dependencies=[Depends(require_token)],
    tags=["instances"],
)


class BatchDeleteRequest(BaseModel):
    """``POST .../instances/batch/delete``: ``{"instances": ["id", ...]}`` (1 to 100)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[str]


class InstanceDeletedOut(BaseModel):
    """``DELETE .../instances/{id}``: the deleted instance's id."""

    id: str
    deleted: bool = True


@router.post(
    "/batch/delete",
    responses=error_responses(WorkflowNotFound, InvalidInstanceId),
    openapi_extra=json_body(
        BatchDeleteRequest, description="the instance ids to delete", required=True
    ),
)
async def delete_batch(request: Request, workflow_name: str) -> Envelope[BatchDeleteResult]:
    """Delete up to 100 instances; the outcome of each id, in the order given."""
    req = await read_request(request, BatchDeleteRequest)
    result = await transport(request).delete_instances(workflow_name, req.instances)
    return Envelope[BatchDeleteResult](result=result)


@router.delete(
    "/{instance_id}",
    responses=error_responses(WorkflowNotFound, InstanceNotFound, InvalidInstanceId),
)
async def delete_instance(
    request: Request, workflow_name: str, instance_id: str
) -> Envelope[InstanceDeletedOut]:
    """Delete one instance (404 when it does not exist)."""
    result = await transport(request).delete_instances(workflow_name, [instance_id])
    if result.errors:
        raise InstanceNotFound(f"instance {instance_id!r} not found in workflow {workflow_name!r}")
    return Envelope[InstanceDeletedOut](result=InstanceDeletedOut(id=instance_id))
