"""Retention per instance and per workflow, without Ray: Cloudflare's shapes
parsed (ms or duration strings), the precedence instance > workflow default >
engine, the purge per instance, and what get shows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec, load_config
from pyflow_actors.errors import ConfigError, ValidationError
from pyflow_actors.models import CreateOptions
from pyflow_actors.retention import Retention
from pyflow_actors.runtime.protocol import OutcomeKind
from pyflow_actors.runtime.supervisor import Supervisor
from pyflow_actors.versions import spec_config, version_id
from tests import workflows as w
from tests.fake_transport import FakeTransport

from .fake_actors import FakeBackend
from .gateway_on_fake import ACCOUNT, sdk_call
from .test_supervisor import run, until

pytestmark = pytest.mark.timeout(30)

DAY = 86400.0


def test_retention_reads_milliseconds_strings_and_both_spellings():
    parsed = Retention.parse({"success_retention": 60_000, "errorRetention": "2 days"})
    assert parsed == Retention(success=60.0, error=2 * DAY)
    assert parsed.to_wire() == {"success_retention": 60_000, "error_retention": 172_800_000}
    assert Retention.parse(None) is None


@pytest.mark.parametrize(
    "value", [{"keep": 1}, "3 days", {"success_retention": 0}, {"error_retention": True}]
)
def test_a_bad_retention_is_a_clear_error(value):
    with pytest.raises(ValidationError, match="instance_retention"):
        Retention.parse(value)


def test_an_instance_retention_falls_back_key_by_key():
    own = Retention(success=10.0)
    resolved = own.over(Retention(error=20.0)).over(Retention(success=1.0, error=1.0))
    assert resolved == Retention(success=10.0, error=20.0)
    assert resolved.seconds_for(errored=True) == 20.0


async def _supervisor(tmp_path: Path, backend: FakeBackend) -> Supervisor:
    spec = WorkflowSpec.of("echo", w.Echo, default_retention=Retention(error=5 * DAY))
    config = EngineConfig(storage=tmp_path, workflows=(spec,), max_running=8, retention=30 * DAY)
    sup = Supervisor(config, backend=backend)
    await sup.start()
    return sup


def test_purge_keeps_each_instance_for_its_own_retention(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await _supervisor(tmp_path, backend)
        own = CreateOptions(id="own", retention={"success_retention": "1 day"})
        await sup.create("echo", [own, CreateOptions(id="ok"), CreateOptions(id="bad")], batch=True)
        for instance_id in ("own", "ok"):
            (await actor_of(backend, instance_id)).finish()
        (await actor_of(backend, "bad")).finish(OutcomeKind.ERRORED, error=("E", "boom"))
        await until(lambda: all(r.ended_at for r in sup.table))
        now = time.time()

        assert sup.purge_expired(now=now + 2 * DAY) == 1  # its own day passed
        assert sup.table.get(("echo", "own")) is None
        assert sup.purge_expired(now=now + 6 * DAY) == 1  # the workflow's error default
        assert sup.table.get(("echo", "bad")) is None
        assert sup.purge_expired(now=now + 29 * DAY) == 0  # the engine's 30 days
        assert sup.purge_expired(now=now + 31 * DAY) == 1

    run(scenario)


async def actor_of(backend: FakeBackend, instance_id: str):  # type: ignore[no-untyped-def]
    made = await until(lambda: [a for a in backend.created if a.key == ("echo", instance_id)])
    await until(lambda: made[0].calls)
    return made[0]


def test_describe_shows_the_resolved_retention(tmp_path):
    async def scenario() -> None:
        backend = FakeBackend()
        sup = await _supervisor(tmp_path, backend)
        await sup.create(
            "echo", [CreateOptions(id="r", retention={"success_retention": 3_600_000})], batch=False
        )
        first = await actor_of(backend, "r")
        first.open()
        detail = await sup.describe("echo", "r")
        assert detail.retention == Retention(success=3600.0, error=5 * DAY)

    run(scenario)


def test_workflow_default_retention_comes_from_pyflow_toml(tmp_path):
    (tmp_path / "pyflow.toml").write_text(
        '[[workflows]]\nname = "echo"\nclass_name = "tests.workflows:Echo"\n'
        'default_retention = { success_retention = "3 days", error_retention = 86400000 }\n'
    )
    [spec] = load_config(tmp_path / "pyflow.toml").workflows
    assert spec.default_retention == Retention(success=3 * DAY, error=DAY)
    (tmp_path / "pyflow.toml").write_text(
        '[[workflows]]\nname = "echo"\nclass_name = "tests.workflows:Echo"\n'
        'default_retention = { success_retention = "soon" }\n'
    )
    with pytest.raises(ConfigError, match="workflow 'echo'"):
        load_config(tmp_path / "pyflow.toml")


def test_a_spec_without_default_retention_keeps_its_version_id():
    spec = WorkflowSpec.of("echo", w.Echo)
    assert "default_retention" not in spec_config(spec)
    with_default = WorkflowSpec.of("echo", w.Echo, default_retention=Retention(success=1.0))
    assert version_id("src", spec_config(spec)) != version_id("src", spec_config(with_default))


def test_the_official_sdk_instance_retention_reaches_the_engine():
    fake = FakeTransport()
    sdk_call(
        fake,
        lambda cf: cf.workflows.instances.create(
            "hello",
            account_id=ACCOUNT,
            instance_id="i1",
            instance_retention={"success_retention": "2 days", "error_retention": 60_000},
        ),
    )
    assert fake.created_options[-1].retention == Retention(success=2 * DAY, error=60.0)


def test_the_gateway_refuses_a_bad_instance_retention():
    import cloudflare

    fake = FakeTransport()
    with pytest.raises(cloudflare.BadRequestError, match="instance_retention"):
        sdk_call(
            fake,
            lambda cf: cf.workflows.instances.create(
                "hello", account_id=ACCOUNT, instance_retention={"success_retention": "soon"}
            ),
        )
    assert fake.instances == {}


def test_our_client_passes_cloudflare_retention_option():
    from pyflow_actors.client.api import AsyncClient

    fake = FakeTransport()
    asyncio.run(
        AsyncClient(fake)
        .workflow("hello")
        .create({"id": "a", "retention": {"successRetention": "1 hour"}})
    )
    assert fake.created_options[-1].retention == Retention(success=3600.0)
