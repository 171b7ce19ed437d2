"""Upgrades without Ray: where an instance runs after its workflow's code changed.

The instance runner runs in-process on real journal files (a divergence is
caught at start: errored or paused; a kept version finishes on its old code);
the supervisor runs on fake actors (which spec each instance gets, and
``restart`` moving an instance to the current version).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec, load_config
from pyflow_actors.errors import ConfigError
from pyflow_actors.limits import DEFAULT_LIMITS
from pyflow_actors.models import CreateOptions, InstanceStatus
from pyflow_actors.runtime.protocol import InstanceSetup, OutcomeKind, RunRequest
from pyflow_actors.runtime.runner import InstanceRunner
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.storage.journal import DuckJournal
from pyflow_actors.upgrade.pinning import kept_versions
from pyflow_actors.versions import class_version_id, spec_config
from tests.upgrade_versions import signup_v1, signup_v2

from .fake_actors import FakeBackend

pytestmark = pytest.mark.timeout(30)

V1 = "tests.upgrade_versions.signup_v1:Signup"
V2 = "tests.upgrade_versions.signup_v2:Signup"
SPEC_V1 = WorkflowSpec(name="signup", class_name=V1)
SPEC_V2 = WorkflowSpec(name="signup", class_name=V2)
SPEC_V2_KEEPING_V1 = replace(SPEC_V2, versions=(V1,))
V1_ID = class_version_id(signup_v1.Signup, spec_config(SPEC_V1))


def run_instance(journal: Path, spec: WorkflowSpec, **setup: Any) -> Any:
    runner = InstanceRunner(
        InstanceSetup(
            workflow="signup",
            instance_id="s-1",
            journal_path=str(journal),
            spec=spec,
            bindings={},
            vars={},
            hibernate_after=0.2,
            limits=DEFAULT_LIMITS,
            code_paths=(),
            namespace="test",
            supervisor_name="none",
            **setup,
        )
    )

    async def go() -> Any:
        try:
            return await runner.run(RunRequest(1, '{"email": "a@example.com"}', time.time()))
        finally:
            if runner._journal is not None:
                runner._journal.close()

    return asyncio.run(asyncio.wait_for(go(), 20))


def trial_over(journal: Path) -> None:
    """The 30 days of the trial have passed (the sleep's wake time moved to the past)."""
    with DuckJournal(journal) as opened:
        opened._db.execute("UPDATE steps SET wake_at = 0 WHERE key = 'trial'")


@pytest.fixture
def journal_in_trial(tmp_path: Path) -> Path:
    """An instance that ran on version 1 and sleeps through its trial."""
    journal = tmp_path / "journals" / "signup" / "s-1.duckdb"
    assert run_instance(journal, SPEC_V1).kind == OutcomeKind.HIBERNATE
    return journal


def test_an_instance_whose_journal_diverges_errors_at_start_naming_the_step(journal_in_trial):
    outcome = run_instance(journal_in_trial, SPEC_V2, check_replay=True)
    assert outcome.kind == OutcomeKind.ERRORED
    name, message = outcome.error
    assert name == "ReplayDiverged"
    assert "'verify email'" in message and "'trial'" in message and "position 2" in message
    with DuckJournal(journal_in_trial, read_only=True) as journal:
        assert "verify email" not in journal.steps()  # no step of the new code ran
        result = journal.result()
        assert result is not None and result.status == InstanceStatus.ERRORED


def test_on_divergence_pause_pauses_the_instance_with_the_reason(journal_in_trial):
    outcome = run_instance(journal_in_trial, SPEC_V2, check_replay=True, on_divergence="pause")
    assert outcome.kind == OutcomeKind.PAUSED
    assert outcome.error[0] == "ReplayDiverged"
    with DuckJournal(journal_in_trial, read_only=True) as journal:
        assert journal.result() is None  # not final: resumable once the code fits


def test_a_compatible_instance_goes_on_after_the_check(journal_in_trial):
    trial_over(journal_in_trial)
    outcome = run_instance(journal_in_trial, SPEC_V1, check_replay=True)
    assert outcome.kind == OutcomeKind.COMPLETE
    assert outcome.output == '["account-v1","charged-v1"]'


def test_a_kept_version_finishes_on_its_old_code(journal_in_trial):
    trial_over(journal_in_trial)
    placed = kept_versions(SPEC_V2_KEEPING_V1)
    assert placed == {V1_ID: V1}
    outcome = run_instance(journal_in_trial, replace(SPEC_V2, class_name=placed[V1_ID]))
    assert outcome.output == '["account-v1","charged-v1"]'


def test_a_kept_version_may_name_its_id_explicitly():
    spec = replace(SPEC_V2, versions=(f"0000-old={V1}",))
    assert kept_versions(spec) == {"0000-old": V1}


def test_kept_versions_and_on_divergence_are_read_from_pyflow_toml(tmp_path):
    (tmp_path / "pyflow.toml").write_text(
        '[engine]\non_divergence = "pause"\n'
        f'[[workflows]]\nname = "signup"\nclass_name = "{V2}"\nversions = ["{V1}"]\n'
    )
    config = load_config(tmp_path / "pyflow.toml")
    assert config.on_divergence == "pause"
    assert config.workflow("signup").versions == (V1,)
    (tmp_path / "pyflow.toml").write_text('[engine]\non_divergence = "ignore"\n')
    with pytest.raises(ConfigError, match="on_divergence"):
        load_config(tmp_path / "pyflow.toml")


def test_a_kept_version_that_does_not_import_is_refused_at_start(tmp_path):
    from pyflow_actors.config_check import problems

    spec = replace(SPEC_V2, versions=("tests.upgrade_versions.signup_v0:Signup",))
    [problem] = problems([spec], (), tmp_path)
    assert "signup_v0" in problem and "not found" in problem
    assert problems([SPEC_V2_KEEPING_V1], (), tmp_path) == []


def test_keeping_versions_does_not_change_the_version_id():
    assert class_version_id(signup_v2.Signup, spec_config(SPEC_V2)) == class_version_id(
        signup_v2.Signup, spec_config(SPEC_V2_KEEPING_V1)
    )


# -- the supervisor: which code each instance gets --------------------------------


async def supervisor(tmp_path: Path, backend: FakeBackend, spec: WorkflowSpec) -> Supervisor:
    sup = Supervisor(
        EngineConfig(storage=tmp_path, max_running=4, workflows=(spec,)), backend=backend
    )
    await sup.start()
    return sup


async def started_actor(backend: FakeBackend, instance_id: str, n: int = 1) -> Any:
    deadline = time.monotonic() + 5
    while len(backend.actors_of(("signup", instance_id))) < n:
        assert time.monotonic() < deadline, "the instance did not start"
        await asyncio.sleep(0.001)
    return backend.actors_of(("signup", instance_id))[n - 1]


def test_instances_started_on_a_kept_version_run_it_and_new_ones_run_the_new_code(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await supervisor(tmp_path, backend, SPEC_V1)
        await sup.create("signup", [CreateOptions(id="old")], batch=False)
        (await started_actor(backend, "old")).hibernate(wake_at=time.time() + 0.05)
        await sup.configure(EngineConfig(storage=tmp_path, workflows=(SPEC_V2_KEEPING_V1,)))
        await sup.create("signup", [CreateOptions(id="new")], batch=False)
        old_again, new = await started_actor(backend, "old", 2), await started_actor(backend, "new")
        assert (old_again.setup.spec.class_name, old_again.setup.check_replay) == (V1, False)
        assert (new.setup.spec.class_name, new.setup.check_replay) == (V2, False)

        await sup.control("signup", "old", "restart")  # moves it to the current version
        restarted = await started_actor(backend, "old", 3)
        assert (restarted.setup.spec.class_name, restarted.setup.check_replay) == (V2, False)
        await sup.shutdown()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_an_instance_on_changed_code_not_kept_is_checked_and_a_divergence_pauses_it(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await supervisor(tmp_path, backend, SPEC_V1)
        await sup.create("signup", [CreateOptions(id="old")], batch=False)
        (await started_actor(backend, "old")).hibernate(wake_at=time.time() + 0.05)
        changed = replace(SPEC_V2, on_divergence="pause")
        await sup.configure(EngineConfig(storage=tmp_path, workflows=(changed,)))
        checked = await started_actor(backend, "old", 2)
        assert (checked.setup.check_replay, checked.setup.on_divergence) == (True, "pause")
        checked.finish(OutcomeKind.PAUSED, error=("ReplayDiverged", "at position 2 ..."))
        deadline = time.monotonic() + 5
        while sup.table.require("signup", "old").status != InstanceStatus.PAUSED:
            assert time.monotonic() < deadline, "the diverged instance was not paused"
            await asyncio.sleep(0.001)
        assert sup.table.require("signup", "old").error_name == "ReplayDiverged"
        await sup.shutdown()

    asyncio.run(asyncio.wait_for(scenario(), 20))
