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
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from pyflow_actors.client.shapes import restart_from
from pyflow_actors.errors import (
    CreationRateLimited,
    IdempotencyKeyReused,
    InstanceAlreadyExists,
    InstanceIdRepeated,
    InstanceNotAcceptingEvents,
    InstanceNotFound,
    InvalidEventType,
    InvalidIdempotencyKey,
    InvalidInstanceId,
    InvalidTransition,
    PayloadTooLarge,
    PyflowError,
    QueueFull,
    StepNotFound,
    ValidationError,
    WorkflowNotFound,
    error_class_for_code,
)
from pyflow_actors.idempotency import HEADER, validate_idempotency_key
from pyflow_actors.limits import validate_batch_size
from pyflow_actors.models import BatchCreateError, BatchCreateResult, InstancePage
from service.auth import require_token
from service.envelope import CursorPage, CursorResultInfo, Envelope, error_responses
from service.instance_detail import InstanceOut, StepDetail, step_detail
from service.openapi_docs import instance_links, json_body
from service.schemas import (
    BatchCreateEnvelope,
    BatchCreateInfo,
    CreateInstanceRequest,
    EventSentOut,
    InstanceSummary,
    StatusEditOut,
    StatusEditRequest,
    parse_iso,
    parse_request,
    summaries,
)

from . import ACCOUNT_PREFIX, read_body, read_request, transport, whole

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/instances",
    dependencies=[Depends(require_token)],
    tags=["instances"],
)

Direction = Literal["asc", "desc"]

# What a create may be refused for (one create may also be a duplicate id).
CREATE_ERRORS = (
    WorkflowNotFound,
    InvalidInstanceId,
    PayloadTooLarge,
    CreationRateLimited,
    QueueFull,
)
INSTANCE_ERRORS = (WorkflowNotFound, InstanceNotFound)
# A batch entry whose id is taken: it exists, or came earlier in the batch.
TAKEN = (InstanceAlreadyExists.numeric_code, InstanceIdRepeated.numeric_code)


# ---------------------------------------------------------------------------
# create


@router.post(
    "",
    status_code=201,
    responses={
        **error_responses(*CREATE_ERRORS, InstanceAlreadyExists),
        201: {"links": instance_links("/result/id")},
    },
    openapi_extra=json_body(CreateInstanceRequest, description="the instance to create"),
)
async def create_instance(request: Request, workflow_name: str) -> Envelope[InstanceSummary]:
    """Create one instance: ``{"instance_id"?: str, "params"?: any}``. A duplicate id is a 409."""
    req = await read_request(request, CreateInstanceRequest)
    [info] = await transport(request).create(workflow_name, [req.options()], batch=False)
    return Envelope[InstanceSummary](result=InstanceSummary.of(info))


@router.post(
    "/batch",
    status_code=201,
    responses={
        **error_responses(*CREATE_ERRORS),
        201: {"links": instance_links("/result/0/id")},
    },
    openapi_extra=json_body(
        list[CreateInstanceRequest], description="up to 100 instances to create", required=True
    ),
)
async def create_batch(request: Request, workflow_name: str) -> BatchCreateEnvelope:
    """Create up to 100 instances: a JSON array of create bodies, each on its own.

    ``result``: the instances created, in the array's order. An entry refused
    (invalid, its id taken or repeated) is left out and named in
    ``result_info.errors`` (``{index, id, code, message}``); the others are
    created. When none is created and an entry was invalid, the answer is that
    entry's error (ids that exist only: an empty result, as a retried batch).
    """
    body = await read_body(request)
    if not isinstance(body, list):
        raise ValidationError(
            'request body must be a JSON array of {"instance_id", "params"} objects'
        )
    validate_batch_size(len(body))
    options, indexes, errors = [], [], []
    for index, item in enumerate(body):
        try:
            options.append(
                parse_request(CreateInstanceRequest, item, f"batch item {index}").options()
            )
            indexes.append(index)
        except PyflowError as exc:
            given = item.get("instance_id") if isinstance(item, dict) else None
            errors.append(
                BatchCreateError.of(index, given if isinstance(given, str) else None, exc)
            )
    result = (
        await transport(request).create_entries(workflow_name, options)
        if options
        else BatchCreateResult()
    )
    errors = sorted(errors + [e.shifted(indexes) for e in result.errors], key=lambda e: e.index)
    invalid = [e for e in errors if e.code not in TAKEN]
    if invalid and not result.created:
        code, _, message = invalid[0].message.partition(": ")
        raise error_class_for_code(code)(message)
    return BatchCreateEnvelope(
        result=summaries(result.created), result_info=BatchCreateInfo(errors=errors)
    )


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


def _next_cursor(state: dict[str, Any], shown: InstancePage) -> str | None:
    """The cursor of the page after ``shown`` (read with ``state``), or ``None`` on the last."""
    if (shown.page - 1) * shown.per_page + len(shown.instances) >= shown.total:
        return None
    following = {**state, "page": shown.page + 1}
    first_page = shown.page == 1 and state["direction"] == "desc"
    if first_page and following["created_before"] is None:
        # Newest first: pin the listing to what exists now (the first item is
        # the newest), so that instances created meanwhile shift no page.
        following["created_before"] = shown.instances[0].created_at
    return _encode_cursor(following)


@router.get("", responses=error_responses(WorkflowNotFound))
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
) -> CursorPage[InstanceSummary]:
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
    info = CursorResultInfo.of(result.page, result.per_page, len(result.instances), result.total)
    info.cursor = _next_cursor(state, result)
    return CursorPage[InstanceSummary](result=summaries(result.instances), result_info=info)


# ---------------------------------------------------------------------------
# one instance


@router.get("/{instance_id}", responses=error_responses(*INSTANCE_ERRORS))
async def get_instance(
    request: Request,
    workflow_name: str,
    instance_id: str,
    order: Direction = Query("asc", description="steps oldest first (asc) or newest first"),
    simple: bool = Query(False, description="leave out the steps (step_count stays)"),
) -> Envelope[InstanceOut]:
    """Status, params, output and the step history (Cloudflare's instance logs)."""
    detail = await transport(request).describe(workflow_name, instance_id)
    return Envelope[InstanceOut](
        result=InstanceOut.of(workflow_name, detail, simple=simple, order=order)
    )


@router.get("/{instance_id}/status", responses=error_responses(*INSTANCE_ERRORS))
async def get_status(
    request: Request, workflow_name: str, instance_id: str
) -> Envelope[InstanceSummary]:
    """The instance's status only, from the registry (never wakes it). An extension."""
    info = await transport(request).status(workflow_name, instance_id)
    return Envelope[InstanceSummary](result=InstanceSummary.of(info))


@router.get("/{instance_id}/step", responses=error_responses(*INSTANCE_ERRORS, StepNotFound))
async def get_step(
    request: Request,
    workflow_name: str,
    instance_id: str,
    name: str = Query(..., description="the step's name as in the steps list (e.g. 'fetch-2')"),
    type: Literal["step", "waitForEvent"] = Query(..., description="step or waitForEvent"),  # noqa: A002
    attempt: int | None = Query(None, ge=1, description="one attempt of a step, from 1"),
) -> Envelope[StepDetail]:
    """One step's full output (or error) and status."""
    detail = await transport(request).describe(workflow_name, instance_id)
    result = step_detail(instance_id, detail.steps, name, type, attempt)
    if result is None:
        raise StepNotFound(
            f"instance {instance_id!r} has no {type} named {name!r}: "
            "use a name from the instance's steps list"
        )
    return Envelope[StepDetail](result=result)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="The caller's key for this call (1-255 printable ASCII characters): "
        "sent again with the same call, it is answered with the current status, not "
        "applied twice; with another call on the same instance, a 409.",
    ),
]


@router.patch(
    "/{instance_id}/status",
    responses=error_responses(
        *INSTANCE_ERRORS,
        InvalidTransition,
        PayloadTooLarge,
        StepNotFound,
        InvalidIdempotencyKey,
        IdempotencyKeyReused,
    ),
    openapi_extra=json_body(StatusEditRequest, description="the status to move to", required=True),
)
async def edit_status(
    request: Request,
    workflow_name: str,
    instance_id: str,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Envelope[StatusEditOut]:
    """``{"status": "pause" | "resume" | "terminate" | "restart"}``; a restart may
    carry ``"from": {"name", "count", "type"}``: the step it starts again from; a
    terminate may carry ``"rollback": true``: the rollback handlers run first. An
    ``Idempotency-Key`` header makes a resend of the same call apply once."""
    if idempotency_key is not None:
        validate_idempotency_key(idempotency_key)
    req = await read_request(request, StatusEditRequest)
    if req.rollback and req.status != "terminate":
        raise ValidationError(f"'rollback' is only for a terminate, not for {req.status}")
    target = None
    if req.from_ is not None:
        if req.status != "restart":
            raise ValidationError(f"'from' is only for a restart, not for {req.status}")
        target = restart_from(from_=req.from_)
    info = await transport(request).control(
        workflow_name,
        instance_id,
        req.status,
        target,
        rollback=bool(req.rollback),
        idempotency_key=idempotency_key,
    )
    return Envelope[StatusEditOut](result=StatusEditOut.edited(info, at=time.time()))


@router.post(
    "/{instance_id}/events/{event_type}",
    responses=error_responses(
        *INSTANCE_ERRORS, InstanceNotAcceptingEvents, InvalidEventType, PayloadTooLarge
    ),
    openapi_extra=json_body(Any, description="the event's payload: any JSON value"),
)
async def send_event(
    request: Request, workflow_name: str, instance_id: str, event_type: str
) -> Envelope[EventSentOut]:
    """Send an event: the whole JSON body is its payload (an empty body is ``null``)."""
    payload = await read_body(request)
    await transport(request).send_event(workflow_name, instance_id, event_type, payload)
    return Envelope[EventSentOut](
        result=EventSentOut(instance_id=instance_id, timestamp=time.time())
    )
