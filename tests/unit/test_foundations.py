"""Durations, limits, serialization, errors and config: the bottom layer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pydantic
import pytest

from pyflow_actors.config import WorkflowSpec, default_max_running, load_config
from pyflow_actors.durations import format_duration, parse_duration, to_epoch_seconds
from pyflow_actors.engine import StepConfig
from pyflow_actors.errors import (
    ConfigError,
    InstanceNotFound,
    InvalidDuration,
    InvalidEventType,
    InvalidInstanceId,
    InvalidStepConfig,
    NonRetryableError,
    PayloadTooLarge,
    StepError,
    from_wire,
    rebuild_error,
)
from pyflow_actors.limits import (
    validate_event_timeout,
    validate_event_type,
    validate_instance_id,
    validate_payload,
    validate_sleep_seconds,
)
from pyflow_actors.serialization import NotSerializable, dumps


@pytest.mark.parametrize(
    "value,seconds",
    [
        (5, 5.0),
        (1.5, 1.5),
        ("10 seconds", 10.0),
        ("1 second", 1.0),
        ("5 minutes", 300.0),
        ("1 hour", 3600.0),
        ("26 hours", 93600.0),
        ("2 days", 172800.0),
        ("1 week", 604800.0),
        ("1 month", 2592000.0),
        ("1 year", 31536000.0),
        ("250 ms", 0.25),
        ("3", 3.0),
        (dt.timedelta(minutes=2), 120.0),
    ],
)
def test_durations_parse(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["ten seconds", "5 fortnights", "", -1, True, None, [1], float("nan")]
)
def test_bad_durations_are_clear_errors(value):
    with pytest.raises(InvalidDuration):
        parse_duration(value, what="sleep duration")


def test_duration_formatting_and_epochs():
    assert format_duration(600) == "10 minutes"
    assert format_duration(1) == "1 second"
    assert format_duration(0.5) == "0.5 seconds"
    assert format_duration(math.inf) == "forever"
    when = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert to_epoch_seconds(when) == when.timestamp()
    with pytest.raises(InvalidDuration):
        to_epoch_seconds("tomorrow")


@pytest.mark.parametrize("good", ["a", "A-b_9", "_x", "x" * 100, "123"])
def test_valid_ids(good):
    assert validate_instance_id(good) == good
    assert validate_event_type(good) == good


@pytest.mark.parametrize("bad", ["", "-x", "a.b", "a b", "../etc", "é", "x" * 101, None, 5])
def test_invalid_ids_say_what_is_allowed(bad):
    with pytest.raises(InvalidInstanceId, match="letters, digits|non-empty"):
        validate_instance_id(bad)
    with pytest.raises(InvalidEventType):
        validate_event_type(bad)


def test_payload_and_wait_limits():
    assert validate_payload({"a": 1}) == '{"a":1}'
    with pytest.raises(PayloadTooLarge, match="limit is 1048576"):
        validate_payload("x" * (1 << 20))
    with pytest.raises(NotSerializable, match="not JSON-serializable"):
        validate_payload({"f": object()})
    with pytest.raises(NotSerializable):
        validate_payload(float("nan"))
    assert validate_sleep_seconds(365 * 86400) == 365 * 86400
    with pytest.raises(Exception, match="365 days"):
        validate_sleep_seconds(366 * 86400)
    with pytest.raises(Exception, match="between 1 second"):
        validate_event_timeout(0.5)


def test_serialization_of_models_dataclasses_and_handles():
    class Model(pydantic.BaseModel):
        when: dt.date
        n: int

    @dataclasses.dataclass
    class Point:
        x: int

    class Handle:
        def __json__(self):
            return {"id": "abc"}

    assert dumps(Model(when=dt.date(2030, 1, 2), n=1)) == '{"when":"2030-01-02","n":1}'
    assert dumps([Point(1), Handle()]) == '[{"x":1},{"id":"abc"}]'
    with pytest.raises(NotSerializable, match="bytes"):
        dumps(b"raw")


def test_step_config_defaults_and_backoff():
    config = StepConfig.parse(None)
    assert (config.limit, config.delay, config.backoff, config.timeout) == (
        5,
        10,
        "exponential",
        600,
    )
    assert [config.delay_before_retry(n) for n in (1, 2, 3)] == [10, 20, 40]
    linear = StepConfig.parse({"retries": {"limit": 3, "delay": "5 seconds", "backoff": "linear"}})
    assert [linear.delay_before_retry(n) for n in (1, 2, 3)] == [5, 10, 15]
    unlimited = StepConfig.parse({"retries": {"limit": float("inf"), "delay": 1}})
    assert math.isinf(unlimited.limit) and dumps(unlimited.to_json())
    for bad in (
        {"retries": {"limit": -1}},
        {"retries": {"limit": 1.5}},
        {"retries": {"backoff": "random"}},
        {"timeout": "soon"},
        {"timeout": 0},
        {"retry": {}},
        "5 retries",
    ):
        with pytest.raises(InvalidStepConfig):
            StepConfig.parse(bad)


def test_errors_rebuild_by_name_and_cross_the_wire():
    assert type(rebuild_error("ValueError", "bad")) is ValueError
    custom = rebuild_error("OutOfStock", "none left")
    assert isinstance(custom, StepError) and type(custom).__name__ == "OutOfStock"
    assert type(rebuild_error("OutOfStock", "again")) is type(custom)
    assert isinstance(rebuild_error("NonRetryableError", "x"), NonRetryableError)
    assert isinstance(rebuild_error("not an identifier!", "x"), StepError)
    err = from_wire(InstanceNotFound("instance 'x' does not exist").to_wire())
    assert isinstance(err, InstanceNotFound) and err.http_status == 404
    assert err.code == "instance.not_found"


def test_config_from_toml(tmp_path):
    (tmp_path / "pyflow.toml").write_text(
        """
[[workflows]]
name = "onboarding"
binding = "ONBOARDING"
class_name = "tests.workflows:Echo"

[engine]
storage = "data"
max_running = 3
hibernate_after = "2 seconds"

[vars]
GREETING = "hello"

[[tokens]]
token = "secret"
accounts = ["acct"]
"""
    )
    config = load_config(tmp_path / "pyflow.toml")
    assert config.storage == (tmp_path / "data").resolve()
    assert config.max_running == 3 and config.hibernate_after == 2.0
    assert config.workflow("ONBOARDING").name == "onboarding"
    assert config.workflow("onboarding").load().__name__ == "Echo"
    assert config.vars == {"GREETING": "hello"}
    assert config.tokens[0].accounts == ("acct",)
    assert str(tmp_path) in config.code_paths
    overridden = load_config(tmp_path / "pyflow.toml", max_running=9)
    assert overridden.max_running == 9


@pytest.mark.parametrize(
    "text,match",
    [
        ("[engine]\nmax_runing = 3\n", "unknown \\[engine\\] key"),
        ("[[workflows]]\nname = 'x'\n", "missing"),
        ("[engine\n", "not valid TOML"),
        ("[engine]\nhibernate_after = 'soon'\n", "hibernate_after"),
        ("[[workflows]]\nname = 'bad name'\nclass_name = 'a:B'\n", "workflow name"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, match):
    path = tmp_path / "pyflow.toml"
    path.write_text(text)
    with pytest.raises(Exception, match=match):
        load_config(path)


def test_missing_config_and_bad_class_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot import"):
        WorkflowSpec(name="x", class_name="no_such_module:Thing").load()
    with pytest.raises(ConfigError, match="module:ClassName"):
        WorkflowSpec(name="x", class_name="just_a_name").load()


def test_default_concurrency_is_sized_from_memory():
    assert 2 <= default_max_running() <= 1024
