"""The in-memory engine behind the browser tests' second gateway: made in milliseconds.

A ``big`` workflow of 10,000 instances (rows written straight into the fake's
table, as a registry would hold them), and a ``hello`` workflow with one
waiting instance that has run steps (one retried, one sleeping) on a version
graph, for the layout, keyboard and theme checks.
"""

from __future__ import annotations

import time

from pyflow_actors.models import (
    AttemptInfo,
    ErrorInfo,
    InstanceStatus,
    InstanceStatusInfo,
    StepInfo,
)
from pyflow_actors.versions import VersionInfo
from tests.fake_transport import FakeTransport
from tests.unit.test_dashboard_drawing import GRAPH

BIG = 10_000
SHOWN_ID = "k-onboarding-1"


def fake_engine() -> FakeTransport:
    engine = FakeTransport(("big", "hello"))
    now = time.time()
    statuses = (InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.WAITING)
    for n in range(BIG):
        status = statuses[n % 3]
        engine.instances[("big", f"b-{n:05d}")] = InstanceStatusInfo(
            id=f"b-{n:05d}",
            workflow="big",
            status=status,
            created_at=now - BIG + n,
            ended_at=now - BIG + n + 1 if status.is_final else None,
        )
    counts = {s.value: sum(1 for n in range(BIG) if statuses[n % 3] is s) for s in statuses}
    engine.workflows["big"] = engine.workflows["big"].model_copy(update={"instances": counts})
    _shown_instance(engine, now)
    return engine


def _shown_instance(engine: FakeTransport, now: float) -> None:
    began = now - 120
    engine.instances[("hello", SHOWN_ID)] = InstanceStatusInfo(
        id=SHOWN_ID,
        workflow="hello",
        status=InstanceStatus.WAITING,
        created_at=began,
        started_at=began,
        waiting_for=["approved"],
        version_id="v1",
    )
    engine.workflows["hello"] = engine.workflows["hello"].model_copy(
        update={"instances": {"waiting": 1}}
    )
    engine.params[("hello", SHOWN_ID)] = {"email": "ada@example.com", "plan": "team"}
    failed = ErrorInfo(name="TimeoutError", message="the mail server did not answer")
    engine.steps[("hello", SHOWN_ID)] = [
        StepInfo(
            type="step",
            name="create account",
            start=began,
            end=began + 14,
            finished=True,
            success=True,
            attempts=[
                AttemptInfo(start=began, end=began + 10, success=False, error=failed),
                AttemptInfo(start=began + 12, end=began + 14, success=True),
            ],
        ),
        StepInfo(
            type="step",
            name="fetch a",
            start=began + 15,
            end=began + 40,
            finished=True,
            success=True,
        ),
        StepInfo(
            type="step",
            name="fetch b",
            start=began + 15,
            end=began + 55,
            finished=True,
            success=True,
        ),
        StepInfo(
            type="waitForEvent",
            name="approval",
            start=began + 60,
            end=now + 3600,
            event_type="approved",
        ),
    ]
    engine.versions["hello"] = [
        VersionInfo(
            id="v1",
            workflow="hello",
            class_name="Hello",
            created_on=began,
            modified_on=began,
            has_dag=True,
            graph=GRAPH,
        )
    ]
