"""Worker crons: expressions as Cloudflare takes them, due fires, and once-per-fire claims."""

from __future__ import annotations

import pytest

from pyflow_actors.cron import due_fires, next_fire, validate_cron
from pyflow_actors.errors import InvalidCron
from pyflow_actors.storage.registry import Registry


def test_five_field_expressions_with_steps_ranges_and_day_names_are_valid() -> None:
    for expression in ("* * * * *", "*/15 * * * *", "0 9 * * MON-FRI", " 30 2 1 * * "):
        assert validate_cron(expression) == expression.strip()


@pytest.mark.parametrize("bad", ["* * * *", "* * * * * *", "61 * * * *", "every minute", 5])
def test_anything_else_is_refused_with_the_shape_to_use(bad) -> None:
    with pytest.raises(InvalidCron, match="5 fields|must be a string"):
        validate_cron(bad)


def test_fire_times_are_utc_and_strictly_after() -> None:
    assert next_fire("0 * * * *", 0.0) == 3600.0
    assert next_fire("0 * * * *", 3600.0) == 7200.0
    assert next_fire("0 0 * * MON", 0.0) == 4 * 86400.0  # 1970-01-01 was a Thursday


def test_after_downtime_only_the_latest_missed_fires_are_due() -> None:
    assert due_fires("* * * * *", 0.0, 600.0) == [600.0]
    assert due_fires("* * * * *", 0.0, 630.0, limit=2) == [540.0, 600.0]
    assert due_fires("* * * * *", 600.0, 630.0) == []
    assert due_fires("0 0 1 1 *", 0.0, 10**9) == [978307200.0]  # 2001-01-01, in one step


def test_a_fire_is_claimed_once_across_registry_restarts(tmp_path) -> None:
    registry = Registry(tmp_path)
    assert registry.last_cron_fire("shop", "* * * * *") is None
    assert registry.claim_cron_fire("shop", "* * * * *", 60.0)
    assert not registry.claim_cron_fire("shop", "* * * * *", 60.0)  # a second gateway
    assert registry.claim_cron_fire("shop", "*/5 * * * *", 60.0)  # another cron
    registry.close()
    again = Registry(tmp_path)
    assert not again.claim_cron_fire("shop", "* * * * *", 30.0)  # older than the last
    assert again.claim_cron_fire("shop", "* * * * *", 120.0)
    assert again.last_cron_fire("shop", "* * * * *") == 120.0
    again.close()
