"""The worker stock keeps idle Ray workers of the engine's job on the node, an
instance actor starts on one of them, and the stock is refilled after it.

Read from what the raylet reports (``GetNodeStats``: each worker's pid, job and
actor), not from timing. The raylet's own prestarted workers belong to no job:
idle workers of the engine's job are the stock's."""

from __future__ import annotations

import uuid

import pytest

from pyflow_actors.models import InstanceStatus
from tests.conftest import wait_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

NIL = 0xFF  # Ray's nil ids are all 0xff bytes


def idle_workers() -> dict[int, bool]:
    """Idle Python workers on this node: pid -> whether they belong to this job."""
    import ray
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

    here = ray.get_runtime_context().get_node_id()
    node = next(n for n in ray.nodes() if n["NodeID"] == here)
    address = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
    stub = node_manager_pb2_grpc.NodeManagerServiceStub(init_grpc_channel(address))
    reply = stub.GetNodeStats(node_manager_pb2.GetNodeStatsRequest(), timeout=10)
    job = bytes.fromhex(ray.get_runtime_context().get_job_id())
    return {
        w.pid: w.job_id == job
        for w in reply.core_workers_stats
        if w.worker_type == common_pb2.WorkerType.WORKER
        and all(b == NIL for b in w.actor_id)
        and w.num_running_tasks == 0
    }


def test_an_instance_actor_starts_on_a_worker_the_stock_prestarted(engine):
    import ray

    assert engine.config.worker_stock >= 1 and engine.config.warm_actors >= 1
    # The stock's workers: idle, of the engine's job.
    wait_for(lambda: any(idle_workers().values()), timeout=120, interval=0.2)
    before = idle_workers()
    blocker = engine.client.workflow("blocker")
    instance = blocker.create(id=f"ws-{uuid.uuid4().hex[:8]}", params={"seconds": 3, "sync": True})
    wait_for(lambda: instance.status().status == InstanceStatus.RUNNING, timeout=60)
    pid = wait_for(
        lambda: ray.get(engine.supervisor.actor_pid.remote("blocker", instance.id)), timeout=60
    )
    assert pid in before, f"the actor's worker {pid} was not idle before: {sorted(before)}"
    # The stock asks the raylet for another: a new idle worker of the job.
    wait_for(
        lambda: any(mine and p not in before for p, mine in idle_workers().items()),
        timeout=120,
        interval=0.2,
    )
    wait_for(lambda: instance.status().status == InstanceStatus.COMPLETE, timeout=60)
    # What the supervisor reports (stats() and /metrics): the worker taken, the refill.
    stats = engine.stats()
    assert stats["worker_stock_taken"] >= 1 and stats["worker_stock_prestarted"] >= 1
    assert stats["worker_stock_looks"] >= 2 and stats["worker_stock_idle"] >= 0
