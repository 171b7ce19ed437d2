"""Units as Cloudflare reads them: milliseconds in JS options, seconds on the Python page."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from pyflow_actors import WorkflowEntrypoint
from pyflow_actors.durations import parse_milliseconds, unit_mistake
from pyflow_actors.engine import MemoryJournal
from pyflow_actors.engine.replay import StepConfig
from tests.unit.test_replay import execute


def test_numbers_in_a_step_config_dict_are_milliseconds() -> None:
    config = StepConfig.parse({"retries": {"limit": 2, "delay": 1500}, "timeout": 30_000})
    assert (config.delay, config.timeout) == (1.5, 30.0)


def test_strings_and_timedeltas_in_a_step_config_are_durations() -> None:
    config = StepConfig.parse(
        {"retries": {"limit": 1, "delay": "10 seconds"}, "timeout": dt.timedelta(minutes=2)}
    )
    assert (config.delay, config.timeout) == (10.0, 120.0)


def test_parse_milliseconds_keeps_strings_as_durations() -> None:
    assert parse_milliseconds(250) == 0.25
    assert parse_milliseconds("2 minutes") == 120.0


def test_small_milliseconds_and_whole_thousands_of_seconds_look_mistaken() -> None:
    assert "'5 seconds'" in unit_mistake(5, "milliseconds")
    assert unit_mistake(5000, "milliseconds") is None
    assert "'10 seconds'" in unit_mistake(10_000, "seconds")
    assert unit_mistake(3600, "seconds") is None
    assert unit_mistake("5 seconds", "milliseconds") is None


def test_a_wait_for_event_number_timeout_is_milliseconds() -> None:
    class Waits(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.wait_for_event("w", "never", timeout=1000)
            except Exception as exc:  # noqa: BLE001 - the timeout, whatever its class
                return type(exc).__name__

    assert execute(Waits(), hibernate_after=5).output == '"WaitForEventTimeout"'


def test_a_mistaken_looking_unit_is_logged_once_per_workflow(caplog, monkeypatch) -> None:
    from pyflow_actors import durations

    monkeypatch.setattr(durations, "_warned", set())  # what earlier tests logged

    class Fast(WorkflowEntrypoint):
        async def run(self, event, step):
            for n in range(3):
                await step.do(f"s{n}", config={"retries": {"limit": 0, "delay": 7}})(lambda: 1)
            return "ok"

    with caplog.at_level(logging.WARNING, logger="pyflow_actors.units"):
        assert execute(Fast(), MemoryJournal()).output == '"ok"'
        assert execute(Fast(), MemoryJournal()).output == '"ok"'
    warnings = [r.getMessage() for r in caplog.records if "retries.delay" in r.getMessage()]
    assert len(warnings) == 1
    assert "'7 seconds'" in warnings[0]


@pytest.mark.parametrize("bad", [{"timeout": -5}, {"retries": {"limit": 1, "delay": True}}])
def test_a_bad_number_in_a_step_config_is_rejected(bad) -> None:
    from pyflow_actors.errors import InvalidStepConfig

    with pytest.raises(InvalidStepConfig):
        StepConfig.parse(bad)
