"""Instance logs inside a Ray actor process, wired the way the instance actor
wires them (``install()`` once per process, ``instance_scope`` around a run):
Ray's worker streams are captured, lines keep their step, and two instances in
one process (shared placement) keep their lines apart."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

import pytest
import ray

from pyflow_actors import WorkflowEntrypoint, instance_logs
from pyflow_actors.engine import Execution, MemoryJournal
from pyflow_actors.entrypoint import WorkflowEvent

pytestmark = pytest.mark.ray


class Talker(WorkflowEntrypoint):
    async def run(self, event, step):
        me = event["payload"]
        print(f"{me} starts")

        @step.do("left")
        async def left():
            for n in range(3):
                print(f"{me} left {n}")
                await asyncio.sleep(0.01)

        @step.do("right")
        def right():  # sync: a thread
            for n in range(3):
                logging.getLogger("talker").warning("%s right %d", me, n)

        await asyncio.gather(left(), right())
        return me


@ray.remote(num_cpus=0)
class Host:
    """What the instance actor does, reduced to the logging lines."""

    def __init__(self) -> None:
        instance_logs.install()

    async def run(self, storage: str, instance_id: str) -> str:
        with instance_logs.instance_scope(storage, "talk", instance_id):
            event = WorkflowEvent(
                instance_id, dt.datetime.now(dt.timezone.utc), instance_id, "talk"
            )
            outcome = await Execution(Talker(), event, MemoryJournal(), hibernate_after=5).run()
        return outcome.kind


def test_prints_and_logging_in_a_ray_actor_are_kept_per_instance_with_their_step(engine, tmp_path):
    host = Host.remote()
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    kinds = ray.get([host.run.remote(str(tmp_path), a), host.run.remote(str(tmp_path), b)])
    assert kinds == ["complete", "complete"]
    for me in (a, b):
        lines = instance_logs.read(tmp_path, "talk", me).lines
        seen = sorted((line.step or "run", line.level or "", line.message) for line in lines)
        assert seen == sorted(
            [("run", "", f"{me} starts")]
            + [("left", "", f"{me} left {n}") for n in range(3)]
            + [("right", "WARNING", f"talker: {me} right {n}") for n in range(3)]
        )
    console = instance_logs.console_path(tmp_path).read_text().splitlines()
    assert f"talk/{a} [left] {a} left 2" in console
    assert f"talk/{b} [right] WARNING talker: {b} right 0" in console
    assert len(console) == 14  # every line once, none merged
    ray.kill(host)
