"""Deleting a workflow while its instances end by themselves (found by the fuzzer:
``DELETE .../workflows/{name}`` answered 500 when an instance's actor went away
while another one was being stopped)."""

from __future__ import annotations

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started, until


def test_deleting_a_workflow_whose_instance_ends_meanwhile_stops_every_actor(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "a", "b")
        a, b = await actor(backend, "a"), await actor(backend, "b")
        for stopped, other in ((a, b), (b, a)):
            terminate = stopped.terminate

            async def terminate_as_the_other_ends(terminate=terminate, other=other) -> None:
                if other.key in sup.actors:  # the other one ends on its own meanwhile
                    other.finish()
                    await until(lambda other=other: other.key not in sup.actors)
                await terminate()

            stopped.terminate = terminate_as_the_other_ends  # type: ignore[method-assign]
        await sup.delete_workflow(WF)
        assert len(sup.actors) == 0
        assert list(sup.table) == []
        for task in sup._background:
            task.cancel()

    run(scenario)
