"""An instance shows waiting as soon as it waits, not only once it hibernates."""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


def test_a_short_sleep_in_the_actor_shows_waiting_with_its_wake_time(client, ledger):
    # 0.8 s is under the engine's hibernate_after (1 s): the actor sleeps in-process.
    params = {"ledger": ledger, "steps": 2, "step_seconds": 0.05, "sleep": 0.8}
    instance = client.workflow("ledger").create(id=f"lw-{uuid.uuid4().hex[:8]}", params=params)
    seen: list[tuple[str, float | None]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = instance.status()
        seen.append((status.status.value, status.wake_at))
        if status.is_final:
            break
        time.sleep(0.02)
    waiting = [wake_at for value, wake_at in seen if value == "waiting"]
    assert waiting, f"never seen waiting: {sorted({v for v, _ in seen})}"
    assert all(wake_at is not None for wake_at in waiting)
    assert seen[-1][0] == "complete" and instance.status().output == 1
