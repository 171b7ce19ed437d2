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
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic import ValidationError as PydanticValidationError

from pyflow_actors import serialization
from pyflow_actors.errors import PayloadTooLarge, ValidationError
from pyflow_actors.models import (
    InstanceDetail,
    InstanceStatus,
    InstanceStatusInfo,
    StepInfo,
    WorkflowInfo,
)

_NAMESPACE = uuid.UUID("5f0c6a4e-8d0b-4c1e-9f57-0b7a3c2d1e90")


def iso(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with microseconds and a ``Z``."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


IsoTime = Annotated[float, PlainSerializer(iso, return_type=str)]
OptionalIsoTime = Annotated[float | None, PlainSerializer(iso, return_type=str | None)]


def workflow_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"workflow:{name}"))


def version_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"version:{name}"))


def _json_text(value: Any) -> str | None:
    return None if value is None else serialization.dumps(value)


# ---------------------------------------------------------------------------
# Requests


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateInstanceRequest(_Request):
    """``POST .../instances`` and each item of ``POST .../instances/batch``.

    ``params`` is taken as sent: any JSON value (an object, a list, a string...).
    ``instance_retention`` and ``location_hint`` are accepted and ignored
    (retention is engine-wide; there is one location).
    """

    instance_id: str | None = None
    params: Any = None
    instance_retention: Any = None
    location_hint: Any = None


class StatusEditRequest(_Request):
    """``PATCH .../instances/{id}/status``: ``{"status": "pause"}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: Literal["pause", "resume", "terminate", "restart"]
    rollback: bool | None = None
    from_: Any = Field(default=None, alias="from")


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body decoded as JSON (``None`` when empty), whatever its content type.

    Bodies over ``max_bytes`` are refused before they are read in full.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes: the limit is {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError("request body is nested too deeply: flatten the JSON") from None


def parse_request(model: type[_Request], data: Any, what: str) -> Any:
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
        )


# ---------------------------------------------------------------------------
# Instances


class ErrorOut(BaseModel):
    name: str
    message: str


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
            version_id=version_id(info.workflow),
            workflow_id=workflow_id(info.workflow),
            created_on=info.created_at,
            modified_on=max(times),
            started_on=info.started_at,
            ended_on=info.ended_at,
            error=ErrorOut(**info.error.model_dump()) if info.error else None,
            output=info.output,
            wake_on=info.wake_at,
            waiting_for=list(info.waiting_for),
        )


class AttemptOut(BaseModel):
    start: IsoTime
    end: OptionalIsoTime = None
    success: bool | None = None
    error: ErrorOut | None = None


_DEFAULT_STEP_CONFIG = {
    "retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
    "timeout": "10 minutes",
}


def render_step(step: StepInfo) -> dict[str, Any]:
    """One entry of ``steps``: a ``step``, ``sleep`` or ``waitForEvent`` entry.

    Step outputs are JSON text (Cloudflare's ``output: str``), complete; the
    ``.../step`` endpoint returns the decoded value.
    """
    error = step.error.model_dump() if step.error else None
    if step.type == "step":
        return {
            "type": "step",
            "name": step.name,
            "start": iso(step.start),
            "end": iso(step.end),
            "success": step.success,
            "output": _json_text(step.output) if step.success else None,
            "error": error,
            "attempts": [
                AttemptOut(
                    start=a.start,
                    end=a.end,
                    success=a.success,
                    error=ErrorOut(**a.error.model_dump()) if a.error else None,
                ).model_dump(mode="json")
                for a in step.attempts
            ],
            "config": step.config or _DEFAULT_STEP_CONFIG,
        }
    entry: dict[str, Any] = {
        "type": step.type,
        "name": step.name,
        "start": iso(step.start),
        "end": iso(step.end),
        "finished": step.finished,
        "error": error,
    }
    if step.type == "waitForEvent":
        entry["event_type"] = step.event_type
        entry["output"] = _json_text(step.output) if step.finished and not step.error else None
    return entry


def render_instance(
    workflow: str, detail: InstanceDetail, *, simple: bool = False, order: str = "asc"
) -> dict[str, Any]:
    """Cloudflare's ``InstanceGetResponse`` (``GET .../instances/{id}``)."""
    info = detail.status
    steps: list[dict[str, Any]] = [render_step(s) for s in detail.steps]
    if detail.terminated_by:
        steps.append({"type": "termination", "trigger": {"source": detail.terminated_by}})
    if order == "desc":
        steps.reverse()
    success = {InstanceStatus.COMPLETE: True, InstanceStatus.ERRORED: False}.get(info.status)
    return {
        "id": info.id,
        "status": info.status.value,
        "params": detail.params,
        "trigger": {"source": "api"},
        "versionId": version_id(workflow),
        "workflow_id": workflow_id(workflow),
        "queued": iso(info.created_at),
        "start": iso(info.started_at),
        "end": iso(info.ended_at),
        "success": success,
        "error": info.error.model_dump() if info.error else None,
        "output": info.output,
        "step_count": len(detail.steps),
        "steps": [] if simple else steps,
        "wake_on": iso(info.wake_at),
        "waiting_for": list(info.waiting_for),
        "placement": detail.placement.value,  # pyflow extension: dedicated | shared
    }


def step_detail(
    instance_id: str,
    steps: list[StepInfo],
    name: str,
    step_type: str,
    attempt: int | None,
) -> dict[str, Any] | None:
    """Cloudflare's ``InstanceStepResponse`` for one step, or ``None`` if there is none.

    ``status`` is ``complete``, ``errored``, ``running`` (a ``step.do`` not
    finished; with an ``error`` it is retrying) or ``waiting`` (a
    ``waitForEvent`` not finished). ``attempt`` (1-based) picks one attempt of
    a ``step.do``.
    """
    step = next((s for s in steps if s.name == name and s.type == step_type), None)
    if step is None:
        return None
    out: dict[str, Any] = {"status": None, "error": None, "output": None}
    if step_type == "waitForEvent":
        out["event_type"] = step.event_type
        if not step.finished:
            out["status"] = "waiting"
        elif step.error:
            out.update(status="errored", error=step.error.model_dump())
        else:
            out.update(status="complete", output=step.output)
        return out
    if attempt is not None:
        if not 1 <= attempt <= len(step.attempts):
            raise ValidationError(
                f"attempt {attempt} is invalid: step {name!r} of instance {instance_id!r} "
                f"has {len(step.attempts)} attempt(s), numbered from 1"
            )
        chosen = step.attempts[attempt - 1]
        if chosen.end is None:
            out["status"] = "running"
        elif chosen.success:
            out.update(status="complete", output=step.output if step.success else None)
        else:
            out.update(status="errored", error=chosen.error.model_dump() if chosen.error else None)
        return out
    if step.finished and step.success:
        out.update(status="complete", output=step.output)
    elif step.finished:
        out.update(status="errored", error=step.error.model_dump() if step.error else None)
    else:
        failed = [a for a in step.attempts if a.error is not None]
        out["status"] = "running"
        out["error"] = failed[-1].error.model_dump() if failed else None  # retrying
    return out


def summaries(infos: list[InstanceStatusInfo]) -> list[dict[str, Any]]:
    return [InstanceSummary.of(i).model_dump(mode="json") for i in infos]
