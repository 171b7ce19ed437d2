"""Cloudflare's REST shapes (as the gateway sends them) turned back into the
engine's models: the HTTP transport's half of a lossless round trip."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ..constants import WIRE_TIME_FORMAT
from ..models import (
    AttemptInfo,
    ErrorInfo,
    InstanceDetail,
    InstanceStatus,
    InstanceStatusInfo,
    Placement,
    RollbackInfo,
    StepInfo,
    WorkflowInfo,
    WorkflowSettings,
)
from ..retention import Retention
from ..versions import VersionInfo


def seconds(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def seconds_or_none(value: str | None) -> float | None:
    return None if value is None else seconds(value)


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime(WIRE_TIME_FORMAT)


def error_info(data: dict[str, Any] | None) -> ErrorInfo | None:
    return ErrorInfo(name=data["name"], message=data.get("message", "")) if data else None


def json_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def workflow_info(data: dict[str, Any]) -> WorkflowInfo:
    module = data.get("script_name") or ""
    return WorkflowInfo(
        name=data["name"],
        binding=data.get("binding") or data["name"].upper().replace("-", "_"),
        class_name=f"{module}:{data['class_name']}" if module else data["class_name"],
        created_at=seconds(data["created_on"]),
        modified_at=seconds(data["modified_on"]),
        instances={k: int(v) for k, v in (data.get("instances") or {}).items()},
        settings=WorkflowSettings(
            max_running=(data.get("concurrency") or {}).get("limit"),
            default_retention=data.get("default_retention"),
            max_steps=(data.get("limits") or {}).get("steps"),
            schedules=tuple(s["cron"] for s in data.get("schedules") or []),
        ),
        version_id=data.get("version_id"),
    )


def status_info(workflow: str, data: dict[str, Any]) -> InstanceStatusInfo:
    return InstanceStatusInfo(
        id=data["id"],
        workflow=workflow,
        status=InstanceStatus(data["status"]),
        error=error_info(data.get("error")),
        output=data.get("output"),
        created_at=seconds(data["created_on"]),
        started_at=seconds_or_none(data.get("started_on")),
        ended_at=seconds_or_none(data.get("ended_on")),
        wake_at=seconds_or_none(data.get("wake_on")),
        waiting_for=list(data.get("waiting_for") or []),
        version_id=data.get("version_id"),
    )


def step_info(data: dict[str, Any]) -> StepInfo:
    kind = data["type"]
    error = error_info(data.get("error"))
    if kind in ("step", "rollback"):  # a rollback handler's run has a step's shape
        success = data.get("success")
        return StepInfo(
            type=kind,
            name=data["name"],
            start=seconds(data["start"]),
            end=seconds_or_none(data.get("end")),
            finished=success is not None,
            success=success,
            output=json_value(data.get("output")),
            error=error,
            attempts=[
                AttemptInfo(
                    start=seconds(a["start"]),
                    end=seconds_or_none(a.get("end")),
                    success=a.get("success"),
                    error=error_info(a.get("error")),
                )
                for a in data.get("attempts") or []
            ],
            config=data.get("config"),
            next_attempt_at=seconds_or_none(data.get("next_attempt")),
        )
    finished = bool(data.get("finished"))
    return StepInfo(
        type=kind,
        name=data["name"],
        start=seconds(data["start"]),
        end=seconds_or_none(data.get("end")),
        finished=finished,
        success=(error is None) if finished else None,
        output=json_value(data.get("output")),
        error=error,
        event_type=data.get("event_type"),
    )


def instance_detail(workflow: str, instance_id: str, data: dict[str, Any]) -> InstanceDetail:
    status = InstanceStatusInfo(
        id=data.get("id", instance_id),
        workflow=workflow,
        status=InstanceStatus(data["status"]),
        error=error_info(data.get("error")),
        output=data.get("output"),
        created_at=seconds(data["queued"]),
        started_at=seconds_or_none(data.get("start")),
        ended_at=seconds_or_none(data.get("end")),
        wake_at=seconds_or_none(data.get("wake_on")),
        waiting_for=list(data.get("waiting_for") or []),
        schedule=data.get("schedule"),
    )
    steps, terminated_by = [], None
    for entry in data.get("steps") or []:
        if entry.get("type") == "termination":
            terminated_by = (entry.get("trigger") or {}).get("source")
        else:
            steps.append(step_info(entry))
    return InstanceDetail(
        status=status,
        params=data.get("params"),
        steps=steps,
        terminated_by=terminated_by,
        placement=data.get("placement") or Placement.DEDICATED,
        retention=Retention.parse(data.get("retention")),
        rollback=rollback_info(data.get("rollback")),
    )


def rollback_info(data: dict[str, Any] | None) -> RollbackInfo | None:
    """Cloudflare's ``rollback`` of an instance: ``{outcome, error}`` or null."""
    if not data:
        return None
    return RollbackInfo(outcome=data["outcome"], error=error_info(data.get("error")))


def version_info(workflow: str, data: dict[str, Any], graph: Any = None) -> VersionInfo:
    fields = {k: v for k, v in data.items() if k in VersionInfo.model_fields}
    return VersionInfo.model_validate(
        {
            **fields,
            "workflow": workflow,
            "created_on": seconds(data["created_on"]),
            "modified_on": seconds(data["modified_on"]),
            "graph": graph,
        }
    )
