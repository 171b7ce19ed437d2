"""The supervisor's ``actor_pid``: an instance whose process goes away while asked
answers None (no process), not an error: a shared host lets an instance go at the
end of its run, between the supervisor's lookup and the host's answer (bench-quick's
events workload, waiting for a shared waiter to hibernate, failed on it)."""

from __future__ import annotations

from pyflow_actors.errors import InstanceActorGone

from .fake_actors import FakeBackend
from .test_supervisor import WF, actor, create, run, started


def test_actor_pid_of_an_instance_let_go_while_asked_is_none(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path, backend)
        await create(sup, "p")
        live = await actor(backend, "p")
        assert await sup.actor_pid(WF, "p") == id(live)

        async def gone() -> int:
            raise InstanceActorGone("instance left its host")

        live.pid = gone  # type: ignore[method-assign]
        assert await sup.actor_pid(WF, "p") is None
        assert await sup.actor_pid(WF, "never-created") is None

    run(scenario)
