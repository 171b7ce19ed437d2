"""``/client/v4/accounts/{account_id}/workflows/{workflow_name}/instances/...``.

Create (one, or a batch), list, get (with steps), one step's output, status
edits (pause, resume, terminate, restart) and events. Every call is one call on
the :class:`~pyflow_actors.client.transport.Transport`; the engine validates.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from pyflow_actors.errors import StepNotFound, ValidationError
from pyflow_actors.models import CreateOptions
from service.auth import require_token
from service.errors import envelope
from service.schemas import (
    CreateInstanceRequest,
    InstanceSummary,
    StatusEditRequest,
    iso,
    parse_iso,
    parse_request,
    read_json,
    render_instance,
    step_detail,
    summaries,
)

from . import ACCOUNT_PREFIX, max_body_bytes, transport, whole
from .workflows import page_info

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/instances",
    dependencies=[Depends(require_token)],
    tags=["instances"],
)

Direction = Literal["asc", "desc"]


# ---------------------------------------------------------------------------
# create


@router.post("", status_code=201)
async def create_instance(request: Request, workflow_name: str) -> dict:
    """Create one instance: ``{"instance_id"?: str, "params"?: any}``. A duplicate id is a 409."""
    body = await read_json(request, max_body_bytes(request))
    req = parse_request(CreateInstanceRequest, {} if body is None else body, "request body")
    [info] = await transport(request).create(
        workflow_name, [CreateOptions(id=req.instance_id, params=req.params)], batch=False
    )
    return envelope(InstanceSummary.of(info).model_dump(mode="json"))


@router.post("/batch", status_code=201)
async def create_batch(request: Request, workflow_name: str) -> dict:
    """Create up to 100 instances: a JSON array of create bodies.

    Ids that already exist are skipped and left out of the result (idempotent).
    """
    body = await read_json(request, max_body_bytes(request))
    if not isinstance(body, list):
        raise ValidationError(
            'request body must be a JSON array of {"instance_id", "params"} objects'
        )
    items = [parse_request(CreateInstanceRequest, b, f"batch item {i}") for i, b in enumerate(body)]
    infos = await transport(request).create(
        workflow_name,
        [CreateOptions(id=i.instance_id, params=i.params) for i in items],
        batch=True,
    )
    return envelope(summaries(infos))


# ---------------------------------------------------------------------------
# list


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(state, dict) or not {"page", "per_page", "direction"} <= set(state):
            raise ValueError
        return state
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "cursor is invalid: pass the cursor from the previous page's result_info"
        ) from None


@router.get("")
async def list_instances(
    request: Request,
    workflow_name: str,
    status: str | None = Query(None, description="only instances with this status"),
    page: float | None = Query(None, ge=1),
    per_page: float | None = Query(None, ge=1, le=1000),
    cursor: str | None = Query(None, description="from the previous page's result_info"),
    direction: Direction | None = Query(None, description="desc: newest first (default)"),
    date_start: str | None = Query(None, description="created at or after (ISO 8601)"),
    date_end: str | None = Query(None, description="created at or before (ISO 8601)"),
) -> dict:
    """Instances, newest first. Page with ``page``/``per_page`` or with ``cursor``.

    A cursor pins the listing as it was when its first page was read: instances
    created later do not shift the pages that follow.
    """
    if cursor is not None:
        if page is not None:
            raise ValidationError("use either 'cursor' or 'page', not both")
        state = _decode_cursor(cursor)
    else:
        state = {
            "page": whole(page, "page") if page is not None else 1,
            "per_page": whole(per_page, "per_page") if per_page is not None else 50,
            "direction": direction or "desc",
            "status": status,
            "created_after": parse_iso(date_start, "date_start") if date_start else None,
            "created_before": parse_iso(date_end, "date_end") if date_end else None,
        }
    result = await transport(request).list_instances(
        workflow_name,
        status=state.get("status"),
        page=int(state["page"]),
        per_page=int(state["per_page"]),
        reverse=state["direction"] == "asc",
        created_after=state.get("created_after"),
        created_before=state.get("created_before"),
    )
    info: dict[str, Any] = page_info(
        result.page, result.per_page, len(result.instances), result.total
    )
    more = (result.page - 1) * result.per_page + len(result.instances) < result.total
    info["cursor"] = None
    if more:
        following = {**state, "page": result.page + 1}
        first_page = result.page == 1 and state["direction"] == "desc"
        if first_page and following["created_before"] is None:
            # Newest first: pin the listing to what exists now (the first item is
            # the newest), so that instances created meanwhile shift no page.
            following["created_before"] = result.instances[0].created_at
        info["cursor"] = _encode_cursor(following)
    return envelope(summaries(result.instances), result_info=info)


# ---------------------------------------------------------------------------
# one instance


@router.get("/{instance_id}")
async def get_instance(
    request: Request,
    workflow_name: str,
    instance_id: str,
    order: Direction = Query("asc", description="steps oldest first (asc) or newest first"),
    simple: bool = Query(False, description="leave out the steps (step_count stays)"),
) -> dict:
    """Status, params, output and the step history (Cloudflare's instance logs)."""
    detail = await transport(request).describe(workflow_name, instance_id)
    return envelope(render_instance(workflow_name, detail, simple=simple, order=order))


@router.get("/{instance_id}/status")
async def get_status(request: Request, workflow_name: str, instance_id: str) -> dict:
    """The instance's status only, from the registry (never wakes it). An extension."""
    info = await transport(request).status(workflow_name, instance_id)
    return envelope(InstanceSummary.of(info).model_dump(mode="json"))


@router.get("/{instance_id}/step")
async def get_step(
    request: Request,
    workflow_name: str,
    instance_id: str,
    name: str = Query(..., description="the step's name as in the steps list (e.g. 'fetch-2')"),
    type: Literal["step", "waitForEvent"] = Query(..., description="step or waitForEvent"),  # noqa: A002
    attempt: int | None = Query(None, ge=1, description="one attempt of a step, from 1"),
) -> dict:
    """One step's full output (or error) and status."""
    detail = await transport(request).describe(workflow_name, instance_id)
    result = step_detail(instance_id, detail.steps, name, type, attempt)
    if result is None:
        raise StepNotFound(
            f"instance {instance_id!r} has no {type} named {name!r}: "
            "use a name from the instance's steps list"
        )
    return envelope(result)


@router.patch("/{instance_id}/status")
async def edit_status(request: Request, workflow_name: str, instance_id: str) -> dict:
    """``{"status": "pause" | "resume" | "terminate" | "restart"}``."""
    body = await read_json(request, max_body_bytes(request))
    req = parse_request(StatusEditRequest, {} if body is None else body, "request body")
    if req.rollback:
        raise ValidationError("rollback is not supported: terminate without 'rollback'")
    if req.from_ is not None:
        raise ValidationError("restarting from a step is not supported: restart without 'from'")
    info = await transport(request).control(workflow_name, instance_id, req.status)
    # Cloudflare's StatusEditResponse is {status, timestamp}; the summary comes along.
    result = InstanceSummary.of(info).model_dump(mode="json")
    result["timestamp"] = iso(time.time())
    return envelope(result)


@router.post("/{instance_id}/events/{event_type}")
async def send_event(
    request: Request, workflow_name: str, instance_id: str, event_type: str
) -> JSONResponse:
    """Send an event: the whole JSON body is its payload (an empty body is ``null``)."""
    payload = await read_json(request, max_body_bytes(request))
    await transport(request).send_event(workflow_name, instance_id, event_type, payload)
    return JSONResponse(envelope({"instanceId": instance_id, "timestamp": iso(time.time())}))
