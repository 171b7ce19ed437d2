"""The REST shapes of a workflow's settings: ``PUT .../workflows/{name}`` (the
body the cloudflare SDK's ``workflows.update(...)`` sends, and its answer) and
the settings a workflow's get and list show (``concurrency``,
``default_retention``, ``limits``, ``schedules`` with their next fire)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pyflow_actors.cron import next_fire, validate_cron
from pyflow_actors.errors import ValidationError
from pyflow_actors.models import WorkflowInfo, WorkflowSettings
from pyflow_actors.retention import Retention

from .schemas import IsoTime, OptionalIsoTime, WorkflowOut, iso, workflow_id


class ConcurrencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, ge=1)


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(default=None, ge=1)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str


class WorkflowUpdateRequest(BaseModel):
    """Cloudflare's ``WorkflowUpdateParams``. ``class_name`` and ``script_name`` must
    name the workflow's class as registered (the code is deployed with pyflow.toml);
    every setting left out is unset (a PUT replaces them all)."""

    model_config = ConfigDict(extra="forbid")

    class_name: str
    script_name: str
    concurrency: ConcurrencyIn | None = None
    default_retention: Any = None
    limits: LimitsIn | None = None
    schedules: list[ScheduleIn] = []

    def settings(self, info: WorkflowInfo) -> WorkflowSettings:
        module, _, name = info.class_name.rpartition(":")
        if (self.script_name, self.class_name) != (module, name or info.class_name):
            raise ValidationError(
                f"workflow {info.name!r} runs {info.class_name!r}: class_name and script_name "
                f"must be {name!r} and {module!r} (change a workflow's class in pyflow.toml)"
            )
        return WorkflowSettings(
            max_running=self.concurrency.limit if self.concurrency else None,
            default_retention=Retention.parse(self.default_retention, what="default_retention"),
            max_steps=self.limits.steps if self.limits else None,
            schedules=tuple(validate_cron(s.cron) for s in self.schedules),
        )


class WorkflowUpdateOut(BaseModel):
    """Cloudflare's ``WorkflowUpdateResponse``."""

    id: str
    name: str
    class_name: str
    script_name: str
    created_on: IsoTime
    modified_on: IsoTime
    triggered_on: OptionalIsoTime = None
    is_deleted: float = 0
    terminator_running: float = 0
    version_id: str

    @classmethod
    def of(cls, info: WorkflowInfo) -> WorkflowUpdateOut:
        module, _, name = info.class_name.rpartition(":")
        return cls(
            id=workflow_id(info.name),
            name=info.name,
            class_name=name or info.class_name,
            script_name=module,
            created_on=info.created_at,
            modified_on=info.modified_at,
            version_id=info.version_id or workflow_id(info.name),
        )


def settings_out(settings: WorkflowSettings, now: float | None = None) -> dict[str, Any]:
    """The settings as a workflow's get shows them: Cloudflare's ``schedules``
    (``[{cron, next_instance}]``) and the update body's other keys."""
    at = time.time() if now is None else now
    retention = settings.default_retention
    return {
        "schedules": [
            {"cron": c, "next_instance": iso(next_fire(c, at))} for c in settings.schedules
        ],
        "concurrency": {"limit": settings.max_running} if settings.max_running else None,
        "default_retention": retention.to_wire() if retention else None,
        "limits": {"steps": settings.max_steps} if settings.max_steps else None,
    }


def workflow_out(info: WorkflowInfo) -> WorkflowOut:
    """A workflow as get and list show it, with its settings."""
    return WorkflowOut.of(info).model_copy(update=settings_out(info.settings))
