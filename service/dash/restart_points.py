"""The steps an instance can be restarted from, as the instance page's restart form lists them.

A step of the instance's history is a restart point: Cloudflare's
``restart({"from": {"name", "count", "type"}})``, where ``count`` is the
occurrence of that name (the journal keys later ones ``name-2``, ``name-3``...)
and ``type`` is ``do``, ``sleep`` or ``waitForEvent``. The form sends it back as
one value, ``type:count:name``, which :func:`parse_restart_point` reads again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pyflow_actors.errors import ValidationError
from pyflow_actors.models import RestartFrom, StepInfo

RestartType = Literal["do", "sleep", "waitForEvent"]
_REPEAT = re.compile(r"^(?P<name>.+)-(?P<count>\d+)$")
# The history's step types as Cloudflare's restart names them.
_RESTART_TYPES: dict[str, RestartType] = {
    "step": "do",
    "sleep": "sleep",
    "waitForEvent": "waitForEvent",
}


@dataclass(frozen=True)
class RestartPoint:
    """One option of the restart form: the step, and the form value naming it."""

    target: RestartFrom

    @property
    def value(self) -> str:
        return f"{self.target.type}:{self.target.count}:{self.target.name}"

    @property
    def label(self) -> str:
        count = f" (#{self.target.count})" if self.target.count > 1 else ""
        return f"{self.target.type} {self.target.name}{count}"


def _target(step: StepInfo, keys: set[tuple[str, str]]) -> RestartFrom | None:
    kind = _RESTART_TYPES.get(step.type)
    if kind is None:  # a kind of step a restart cannot start from (e.g. a rollback)
        return None
    repeat = _REPEAT.match(step.name)
    if repeat and (step.type, repeat["name"]) in keys:  # "fetch-2" after a "fetch"
        return RestartFrom(name=repeat["name"], count=int(repeat["count"]), type=kind)
    return RestartFrom(name=step.name, type=kind)


def restart_points(steps: Iterable[StepInfo]) -> list[RestartPoint]:
    """The steps of an instance's history it can restart from, in the order they began."""
    ordered = sorted(steps, key=lambda s: s.start)
    keys: set[tuple[str, str]] = {(s.type, s.name) for s in ordered}
    targets = (_target(step, keys) for step in ordered)
    return [RestartPoint(target) for target in targets if target is not None]


def parse_restart_point(value: str) -> RestartFrom | None:
    """The step a restart form names (``type:count:name``); ``None``: from the beginning."""
    if not value.strip():
        return None
    kind, _, rest = value.partition(":")
    count, _, name = rest.partition(":")
    try:
        return RestartFrom.model_validate({"type": kind, "count": int(count), "name": name})
    except ValueError:  # pydantic's ValidationError too
        raise ValidationError(
            f"restart point {value!r} is invalid: choose a step from the instance's list"
        ) from None
