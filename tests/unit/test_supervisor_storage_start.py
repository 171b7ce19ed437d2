"""A supervisor (re)started while its storage refuses writes waits for it, instead of
failing its start: Ray never restarts an actor whose ``__init__`` raised, so the
engine stayed down for good after a supervisor kill during a read-only window
(chaos soak, seed 21: every call 503 "did not come back in time")."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from pyflow_actors.config import EngineConfig, WorkflowSpec
from pyflow_actors.errors import ConfigError, StorageUnavailable
from pyflow_actors.models import CreateOptions, InstanceStatus
from pyflow_actors.runtime.supervisor import patient
from pyflow_actors.runtime.supervisor.patient import PatientSupervisor
from pyflow_actors.storage import registry as registry_module
from tests import workflows as w

from .fake_actors import FakeBackend

WF = "echo"


def config(storage: Path) -> EngineConfig:
    return EngineConfig(storage=storage, workflows=(WorkflowSpec.of(WF, w.Echo),), max_running=2)


def test_a_supervisor_started_on_read_only_storage_comes_up_once_it_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    writable = threading.Event()
    real_connect = registry_module.Registry._connect
    tries: list[float] = []

    def connect(self: registry_module.Registry):  # type: ignore[no-untyped-def]
        tries.append(time.monotonic())
        if not writable.is_set():
            raise StorageUnavailable(f"the storage at {self.path} cannot be written (read-only)")
        return real_connect(self)

    monkeypatch.setattr(registry_module.Registry, "_connect", connect)
    monkeypatch.setattr(patient, "FIRST_DELAY", 0.01)
    threading.Timer(0.3, writable.set).start()
    began = time.monotonic()
    sup = PatientSupervisor(config(tmp_path), backend=FakeBackend())
    assert time.monotonic() - began >= 0.3 and len(tries) >= 3  # it waited, trying again

    async def works() -> InstanceStatus:
        await sup.start()
        await sup.create(WF, [CreateOptions(id="after")], batch=False)
        return sup.table.require(WF, "after").status

    assert asyncio.run(works()) in set(InstanceStatus)


def test_a_supervisor_start_fails_at_once_on_anything_but_broken_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def refuse(self: registry_module.Registry):  # type: ignore[no-untyped-def]
        raise ConfigError("not a storage fault")

    monkeypatch.setattr(registry_module.Registry, "_connect", refuse)
    with pytest.raises(ConfigError):
        PatientSupervisor(config(tmp_path), backend=FakeBackend())
