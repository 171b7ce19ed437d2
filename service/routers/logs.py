"""``GET .../workflows/{workflow_name}/instances/{instance_id}/logs``: what an
instance's code printed or logged (an extension of Cloudflare's API).

.. code-block:: sh

    curl -H "Authorization: Bearer $PYFLOW_TOKEN" \\
      "$PYFLOW_URL/client/v4/accounts/local/workflows/hello/instances/42/logs?after=0&limit=100"

The result is ``{"lines": [{"n", "timestamp", "step", "stream", "level",
"message"}], "next_after", "truncated"}``: pass ``next_after`` back as
``after`` to read only newer lines (``pyflow instances logs --follow`` does).
The gateway asks the transport; the engine reads the instance's log file.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from pyflow_actors.errors import InstanceNotFound, WorkflowNotFound
from pyflow_actors.models import InstanceLogs
from service.auth import require_token
from service.envelope import Envelope, error_responses
from service.schemas import IsoTime

from . import ACCOUNT_PREFIX, transport

MAX_LINES = 10_000

router = APIRouter(
    prefix=ACCOUNT_PREFIX + "/{workflow_name}/instances",
    dependencies=[Depends(require_token)],
    tags=["instances"],
)


class LogLineOut(BaseModel):
    n: int = Field(description="the line's number in the instance's log")
    timestamp: IsoTime
    step: str | None = Field(default=None, description="the step that printed it, if any")
    stream: str = Field(description="stdout, stderr or logging")
    level: str | None = None
    message: str


class LogsOut(BaseModel):
    """A page of an instance's log; pass ``next_after`` back as ``after`` for newer lines."""

    lines: list[LogLineOut]
    next_after: int
    truncated: bool

    @classmethod
    def of(cls, logs: InstanceLogs) -> LogsOut:
        return cls(
            lines=[
                LogLineOut(
                    n=line.n,
                    timestamp=line.time,
                    step=line.step,
                    stream=line.stream,
                    level=line.level,
                    message=line.message,
                )
                for line in logs.lines
            ],
            next_after=logs.next_after,
            truncated=logs.truncated,
        )


@router.get("/{instance_id}/logs", responses=error_responses(WorkflowNotFound, InstanceNotFound))
async def get_logs(
    request: Request,
    workflow_name: str,
    instance_id: str,
    after: int = Query(0, ge=0, description="only lines numbered above this (a next_after)"),
    limit: int = Query(1000, ge=1, le=MAX_LINES, description="at most this many, the newest"),
) -> Envelope[LogsOut]:
    """The instance's printed and logged lines, oldest first."""
    logs = await transport(request).instance_logs(
        workflow_name, instance_id, after=after, limit=limit
    )
    return Envelope[LogsOut](result=LogsOut.of(logs))
