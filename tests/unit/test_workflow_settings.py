"""A workflow's settings by API, without Ray: ``PUT .../workflows/{name}`` as the
official SDK sends it, the supervisor applying the running cap and step limit,
and the settings kept across supervisor and engine restarts."""

from __future__ import annotations

import asyncio
import time

import cloudflare
import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.errors import InvalidCron
from pyflow_actors.models import CreateOptions, InstanceStatus, WorkflowSettings
from pyflow_actors.retention import Retention
from pyflow_actors.runtime.supervisor import Supervisor
from tests import workflows as w
from tests.fake_transport import FakeTransport

from .fake_actors import FakeBackend
from .gateway_on_fake import ACCOUNT, sdk_call
from .test_supervisor import run, until

pytestmark = pytest.mark.timeout(30)

SETTINGS = WorkflowSettings(
    max_running=1,
    default_retention=Retention(success=3600.0),
    max_steps=7,
    schedules=("*/5 * * * *",),
)


def _config(tmp_path, spec: WorkflowSpec | None = None) -> EngineConfig:
    return EngineConfig(
        storage=tmp_path, workflows=(spec or WorkflowSpec.of("echo", w.Echo),), max_running=8
    )


def test_update_caps_running_instances_and_sets_the_step_limit(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = Supervisor(_config(tmp_path), backend=backend)
        await sup.start()
        info = await sup.update_workflow("echo", SETTINGS)
        assert info.settings == SETTINGS and info.version_id is not None
        await sup.create("echo", [CreateOptions(id="a"), CreateOptions(id="b")], batch=True)
        await until(lambda: backend.created)
        await asyncio.sleep(0.05)
        # concurrency.limit 1: one runs; the other may have an actor made ahead (warm), not run
        running = [made for made in backend.created if any("run" in c for c in made.calls)]
        assert len(running) == 1 and sup.table.require("echo", "b").status == InstanceStatus.QUEUED
        assert backend.created[0].setup.limits.max_steps == 7
        with pytest.raises(InvalidCron):
            await sup.update_workflow("echo", WorkflowSettings(schedules=("every minute",)))

    run(scenario)


def test_settings_survive_a_supervisor_and_an_engine_restart(tmp_path):
    async def scenario() -> None:
        sup = Supervisor(_config(tmp_path), backend=FakeBackend())
        await sup.start()
        first = (await sup.update_workflow("echo", SETTINGS)).version_id
        sup.registry.close()

        again = Supervisor(_config(tmp_path), backend=FakeBackend())  # as Ray restarts it
        await again.start()
        assert (await again.get_workflow("echo")).settings == SETTINGS
        # pyflow.toml registered again (an engine restart): unset keys keep the API's values
        again.catalog.configure(_config(tmp_path, WorkflowSpec.of("echo", w.Echo, max_running=3)))
        info = await again.get_workflow("echo")
        assert info.settings == SETTINGS.model_copy(update={"max_running": 3})
        assert info.version_id != first

    run(scenario)


def test_the_official_sdk_update_and_get_show_the_settings():
    fake = FakeTransport()
    now = time.time()
    updated = sdk_call(
        fake,
        lambda cf: cf.workflows.update(
            "hello",
            account_id=ACCOUNT,
            class_name="Hello",
            script_name="examples.hello",
            concurrency={"limit": 4},
            default_retention={"success_retention": "1 day", "error_retention": 60_000},
            limits={"steps": 50},
            schedules=[{"cron": "0 * * * *"}],
        ),
    )
    assert updated.name == "hello"
    assert fake.workflows["hello"].settings == WorkflowSettings(
        max_running=4,
        default_retention=Retention(success=86400.0, error=60.0),
        max_steps=50,
        schedules=("0 * * * *",),
    )
    got = sdk_call(fake, lambda cf: cf.workflows.get("hello", account_id=ACCOUNT))
    [schedule] = got.schedules
    assert schedule.cron == "0 * * * *"
    next_at = time.mktime(time.strptime(schedule.next_instance[:19], "%Y-%m-%dT%H:%M:%S"))
    assert 0 < next_at - time.timezone - now <= 3600
    extra = got.model_extra or {}
    assert extra["concurrency"] == {"limit": 4} and extra["limits"] == {"steps": 50}
    assert extra["default_retention"] == {
        "success_retention": 86_400_000,
        "error_retention": 60_000,
    }


def test_update_refuses_another_class_and_a_bad_cron():
    fake = FakeTransport()

    def update(**body):  # type: ignore[no-untyped-def]
        return lambda cf: cf.workflows.update("hello", account_id=ACCOUNT, **body)

    with pytest.raises(cloudflare.BadRequestError, match="change a workflow's class"):
        sdk_call(fake, update(class_name="Other", script_name="examples.hello"))
    fake_class = fake.workflows["hello"].class_name
    module, _, name = fake_class.rpartition(":")
    with pytest.raises(cloudflare.BadRequestError):
        sdk_call(fake, update(class_name=name, script_name=module, concurrency={"limit": 0}))
    with pytest.raises(cloudflare.BadRequestError, match="cron"):
        sdk_call(fake, update(class_name=name, script_name=module, schedules=[{"cron": "soon"}]))
    assert fake.workflows["hello"].settings == WorkflowSettings()
