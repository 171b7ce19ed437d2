"""REST shapes: our models rendered as Cloudflare's Workflows API v4 shapes.

The official ``cloudflare`` Python package (``cloudflare/types/workflows/``) is
the spec. Times are ISO 8601 in UTC (``2025-01-31T09:30:00.123456Z``). Fields
Cloudflare does not have are additions a Cloudflare client ignores:

* instance summaries (create, batch, list, ``GET .../status``) also carry
  ``error``, ``output``, ``wake_on`` (when a waiting instance wakes) and
  ``waiting_for`` (the event types it waits for);
* the instance ``GET`` also carries ``id``, ``workflow_id``, ``wake_on`` and
  ``waiting_for``; its ``step`` entries carry ``error`` (the step's final error);
* workflows carry ``binding`` (the name in ``self.env``).

``class_name = "examples.hello:Hello"`` is shown as Cloudflare's
``script_name`` (``examples.hello``) and ``class_name`` (``Hello``).
There is one version per workflow: ``version_id`` and ``workflow_id`` are
stable UUIDs derived from the workflow's name.

This module holds the requests, the workflow and instance summary shapes and
the small results; ``instance_detail.py`` holds one instance's detail and its
steps; ``envelope.py`` the envelope every result travels in.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError

from pyflow_actors.constants import WIRE_TIME_FORMAT
from pyflow_actors.errors import PayloadTooLarge, ValidationError
from pyflow_actors.models import (
    BatchCreateError,
    CreateOptions,
    ErrorInfo,
    InstanceStatus,
    InstanceStatusInfo,
    WorkflowInfo,
)

from .envelope import Envelope

_NAMESPACE = uuid.UUID("5f0c6a4e-8d0b-4c1e-9f57-0b7a3c2d1e90")


def iso(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with microseconds and a ``Z``."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return moment.strftime(WIRE_TIME_FORMAT)


def parse_iso(value: str, what: str) -> float:
    """Epoch seconds of an ISO 8601 time (UTC when it has no offset)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{what} {value!r} is invalid: use ISO 8601 such as 2025-01-31T09:30:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


# Epoch seconds inside, ISO 8601 text on the wire and in the OpenAPI document.
_DATE_TIME = {"type": "string", "format": "date-time"}
IsoTime = Annotated[
    float,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema(_DATE_TIME, mode="serialization"),
]
OptionalIsoTime = Annotated[
    float | None,
    PlainSerializer(iso, return_type=str | None),
    WithJsonSchema({"anyOf": [_DATE_TIME, {"type": "null"}]}, mode="serialization"),
]


def workflow_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"workflow:{name}"))


def version_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"version:{name}"))


# ---------------------------------------------------------------------------
# Requests


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateInstanceRequest(_Request):
    """``POST .../instances`` and each item of ``POST .../instances/batch``.

    ``params`` is any JSON value; a string holding JSON (the cloudflare SDK
    types ``params`` as a JSON-encoded string) is decoded by ``CreateOptions``.
    ``instance_retention`` is ``{success_retention, error_retention}`` (ms or
    duration strings); ``location_hint`` is accepted and ignored (one location).
    """

    instance_id: str | None = None
    params: Any = None
    instance_retention: Any = None
    location_hint: Any = None

    def options(self) -> CreateOptions:
        """What to create (``instance_retention`` checked here: a bad one is a 400)."""
        return CreateOptions(
            id=self.instance_id, params=self.params, retention=self.instance_retention
        )


class StatusEditRequest(_Request):
    """``PATCH .../instances/{id}/status``: ``{"status": "pause"}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: Literal["pause", "resume", "terminate", "restart"]
    rollback: bool | None = None
    from_: Any = Field(default=None, alias="from")


async def read_bounded(request: Request, max_bytes: int) -> bytes:
    """The raw request body, refused (413) over ``max_bytes`` before it is read in full."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes: the limit is {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body decoded as JSON (``None`` when empty), whatever its content type.

    Bodies over ``max_bytes`` are refused before they are read in full.
    """
    raw = await read_bounded(request, max_bytes)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError("request body is nested too deeply: flatten the JSON") from None


RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(model: type[RequestT], data: Any, what: str) -> RequestT:
    """Validate a decoded JSON body; errors name the field and what is allowed."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(x) for x in err.get("loc", ())) or "body"
            message = err.get("msg", "invalid")
            if err.get("type") == "extra_forbidden":
                allowed = ", ".join(repr(f.alias or n) for n, f in model.model_fields.items())
                message = f"unknown field: allowed fields are {allowed}"
            parts.append(f"{field}: {message}")
        raise ValidationError(f"{what} is invalid: " + "; ".join(parts)) from None


# ---------------------------------------------------------------------------
# Workflows


class WorkflowOut(BaseModel):
    """Cloudflare's ``WorkflowGetResponse`` / ``WorkflowListResponse``."""

    id: str
    name: str
    class_name: str
    script_name: str
    binding: str
    created_on: IsoTime
    modified_on: IsoTime
    triggered_on: OptionalIsoTime = None
    instances: dict[str, int]
    # The settings (service/workflow_settings.py fills them in): Cloudflare's
    # schedules, and the keys of its update body.
    schedules: list[dict[str, str]] = []
    concurrency: dict[str, int] | None = None
    default_retention: dict[str, int | None] | None = None
    limits: dict[str, int] | None = None
    version_id: str | None = None

    @classmethod
    def of(cls, info: WorkflowInfo) -> WorkflowOut:
        module, _, class_name = info.class_name.rpartition(":")
        return cls(
            id=workflow_id(info.name),
            name=info.name,
            class_name=class_name or info.class_name,
            script_name=module,
            binding=info.binding,
            created_on=info.created_at,
            modified_on=info.modified_at,
            instances=dict(info.instances),
            version_id=info.version_id,
        )


# ---------------------------------------------------------------------------
# Instances


class ErrorOut(BaseModel):
    name: str
    message: str

    @classmethod
    def of(cls, error: ErrorInfo | None) -> ErrorOut | None:
        return None if error is None else cls(name=error.name, message=error.message)


class InstanceSummary(BaseModel):
    """Create, batch and list items (Cloudflare's ``InstanceListResponse``, a superset
    of ``InstanceCreateResponse``), plus ``error``, ``output``, ``wake_on``, ``waiting_for``."""

    id: str
    status: InstanceStatus
    version_id: str
    workflow_id: str
    trigger_source: str = "api"
    created_on: IsoTime
    modified_on: IsoTime
    started_on: OptionalIsoTime = None
    ended_on: OptionalIsoTime = None
    error: ErrorOut | None = None
    output: Any = None
    wake_on: OptionalIsoTime = None
    waiting_for: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, info: InstanceStatusInfo) -> InstanceSummary:
        times = [t for t in (info.created_at, info.started_at, info.ended_at) if t is not None]
        return cls(
            id=info.id,
            status=info.status,
            version_id=info.version_id or version_id(info.workflow),
            workflow_id=workflow_id(info.workflow),
            created_on=info.created_at,
            modified_on=max(times),
            started_on=info.started_at,
            ended_on=info.ended_at,
            error=ErrorOut.of(info.error),
            output=info.output,
            wake_on=info.wake_at,
            waiting_for=list(info.waiting_for),
            trigger_source="cron" if info.schedule else "api",
        )


def summaries(infos: list[InstanceStatusInfo]) -> list[InstanceSummary]:
    return [InstanceSummary.of(i) for i in infos]


class BatchCreateInfo(BaseModel):
    """*Extension* of a batch create's answer: the entries refused, each with its error."""

    errors: list[BatchCreateError] = Field(
        default_factory=list,
        description="{index, id, code, message} per entry not created (the others are)",
    )


class BatchCreateEnvelope(Envelope[list[InstanceSummary]]):
    """``POST .../instances/batch``: the created instances (a list, as the SDK's
    ``instances.bulk`` reads it) and, in ``result_info``, the refused entries."""

    result_info: BatchCreateInfo = Field(default_factory=BatchCreateInfo)


class StatusEditOut(InstanceSummary):
    """``PATCH .../status``: Cloudflare's ``StatusEditResponse`` is ``{status, timestamp}``;
    the summary comes along."""

    timestamp: IsoTime = Field(description="when the edit was applied")

    @classmethod
    def edited(cls, info: InstanceStatusInfo, *, at: float) -> StatusEditOut:
        return cls(**dict(InstanceSummary.of(info)), timestamp=at)


class EventSentOut(BaseModel):
    """``POST .../events/{type}``: Cloudflare's ``EventCreateResponse``."""

    instance_id: str = Field(serialization_alias="instanceId")
    timestamp: IsoTime = Field(description="when the event was accepted")


class WorkflowDeletedOut(BaseModel):
    """``DELETE .../workflows/{name}``: Cloudflare's ``WorkflowDeleteResponse``."""

    status: Literal["ok"] = "ok"
    success: bool = True
