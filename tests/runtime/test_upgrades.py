"""Upgrading a workflow under running instances, on the real engine (local Ray).

Version 1 of ``signup`` sleeps through a trial between two steps; version 2
adds a step before the trial, so version 1's journals do not fit it. Kept,
version 1 finishes its instances on its own code while new instances run
version 2; once no longer kept, an instance of version 1 that wakes on
version 2 errors with ``replay.diverged`` instead of running the new code.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
import ray

from pyflow_actors.config import WorkflowSpec
from pyflow_actors.models import InstanceStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.ray

V1 = "tests.upgrade_versions.signup_v1:Signup"
V2 = "tests.upgrade_versions.signup_v2:Signup"
NAME = "signup-upgrades"


def configure(engine, spec: WorkflowSpec) -> None:
    config = engine.config.with_workflows(spec)
    ray.get(engine.supervisor.configure.remote(config))


def status_of(client, instance_id: str):
    return client.workflow(NAME).get(instance_id).status()


def finished(client, instance_id: str, timeout: float = 90):
    return wait_for(
        lambda: (
            (s := status_of(client, instance_id)).status
            in (InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.TERMINATED)
            and s
        ),
        timeout,
        0.2,
    )


def test_a_kept_version_finishes_on_old_code_new_instances_run_new_code_and_divergence_errors(
    engine, client
):
    signup = client.workflow(NAME)
    configure(engine, WorkflowSpec(name=NAME, class_name=V1))
    pinned, diverging = f"old-{uuid.uuid4().hex[:8]}", f"late-{uuid.uuid4().hex[:8]}"
    signup.create(id=pinned, params={"trial": "3 seconds"})
    signup.create(id=diverging, params={"trial": "15 seconds"})
    wait_for(lambda: status_of(client, pinned).status == InstanceStatus.WAITING, 60, 0.1)

    keeping_v1 = WorkflowSpec(name=NAME, class_name=V2, versions=(V1,))
    configure(engine, keeping_v1)
    fresh = f"new-{uuid.uuid4().hex[:8]}"
    signup.create(id=fresh, params={"trial": "1 second"})

    assert finished(client, pinned).output == ["account-v1", "charged-v1"]
    assert finished(client, fresh).output == ["account-v2", "charged-v2"]

    configure(engine, dataclasses.replace(keeping_v1, versions=()))  # v1 no longer kept
    late = finished(client, diverging)
    assert late.status == InstanceStatus.ERRORED
    assert late.error.name == "ReplayDiverged"
    assert "'verify email'" in late.error.message and "'trial'" in late.error.message
