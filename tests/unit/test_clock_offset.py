"""The test-only clock offset: the engine's clock moves, the machine's does not, and
pending alarms follow the engine's clock (what the chaos soak's clock shifts rely on)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyflow_actors.engine.clock import OFFSET_REFRESH, SYSTEM_CLOCK, SystemClock
from pyflow_actors.models import InstanceStatus
from tests.unit.fake_actors import FakeBackend
from tests.unit.test_supervisor import actor, create, run, started, status, until

pytestmark = pytest.mark.timeout(20)


def test_without_the_knob_the_clock_is_the_machines() -> None:
    clock = SystemClock(offset_file=None)
    assert clock.offset() == 0.0
    assert abs(clock.now() - time.time()) < 0.5


def test_the_offset_file_shifts_the_clock_and_is_reread(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    offset.write_text("3600")
    clock = SystemClock(offset_file=str(offset))
    assert abs(clock.now() - (time.time() + 3600)) < 0.5
    offset.write_text("-120.5")
    time.sleep(OFFSET_REFRESH + 0.05)
    assert clock.offset() == -120.5


def test_an_unreadable_offset_keeps_the_last_one(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    offset.write_text("60")
    clock = SystemClock(offset_file=str(offset))
    assert clock.offset() == 60.0
    offset.write_text("not a number")
    time.sleep(OFFSET_REFRESH + 0.05)
    assert clock.offset() == 60.0
    offset.unlink()
    time.sleep(OFFSET_REFRESH + 0.05)
    assert clock.offset() == 60.0


def test_a_pending_alarm_fires_when_the_engine_clock_is_shifted_past_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offset = tmp_path / "offset"
    offset.write_text("0")
    monkeypatch.setattr(SYSTEM_CLOCK, "offset_file", str(offset))

    async def scenario() -> None:
        backend = FakeBackend()
        sup = await started(tmp_path / "storage", backend)
        await create(sup, "late", "later")
        due = SYSTEM_CLOCK.now() + 3600  # an hour away on the engine's clock
        (await actor(backend, "late")).hibernate(wake_at=due)
        (await actor(backend, "later")).hibernate(wake_at=due + 7200)
        await until(lambda: status(sup, "late") == InstanceStatus.WAITING)
        offset.write_text("3601")  # the engine's clock jumps past the first alarm only
        await actor(backend, "late", 2)  # woken by its alarm, in real seconds
        assert SYSTEM_CLOCK.now() >= due
        assert status(sup, "later") == InstanceStatus.WAITING
        assert len(backend.actors_of(("echo", "later"))) == 1

    run(scenario)
