"""What the graph shows of values written in a workflow's source: step names,
durations, step configs and the shape of the payload.

Everything here reads an ``ast`` expression without running it. A value the
source spells literally (``"1 day"``, ``30``, ``{"retries": {...}}``, a module
constant, ``timedelta(hours=2)``) is shown resolved; anything else is shown as
its source text (``f"fetch {url}"`` becomes ``fetch {url}``).
"""

from __future__ import annotations

import ast
import datetime as dt
from typing import Any

from ..durations import format_duration, parse_duration
from ..engine.replay import StepConfig
from ..errors import ValidationError

Node = dict[str, Any]


class Unknown:
    """A value the source does not spell out: shown as its source text."""

    def __init__(self, expr: ast.expr) -> None:
        self.text = source_text(expr)


class Dynamic:
    """A function given as a value (``retries.delay`` computed per attempt)."""


_TIMEDELTA_NAMES = {"timedelta", "dt.timedelta", "datetime.timedelta", "_dt.timedelta"}


def source_text(expr: ast.expr) -> str:
    """The expression as written; an f-string as its template (``fetch {url}``)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        parts = []
        for value in expr.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return ast.unparse(expr)


class Constants:
    """Module and class level ``NAME = <literal>`` assignments, for resolving names."""

    def __init__(self, module: ast.Module, cls: ast.ClassDef | None) -> None:
        self.module = _assignments(module.body)
        self.cls = _assignments(cls.body) if cls is not None else {}

    def evaluate(self, expr: ast.expr) -> Any:
        """The value of ``expr``, :class:`Dynamic` for a function, or :class:`Unknown`."""
        if isinstance(expr, ast.Lambda):
            return Dynamic()
        if isinstance(expr, ast.Dict):
            out: dict[Any, Any] = {}
            for key, value in zip(expr.keys, expr.values, strict=True):
                if key is None:
                    return Unknown(expr)
                name = self.evaluate(key)
                if isinstance(name, Unknown | Dynamic):
                    return Unknown(expr)
                out[name] = self.evaluate(value)
            return out
        if isinstance(expr, ast.Name) and expr.id in self.module:
            return self.evaluate(self.module[expr.id])
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id in ("self", "cls")
            and expr.attr in self.cls
        ):
            return self.evaluate(self.cls[expr.attr])
        if isinstance(expr, ast.Call) and ast.unparse(expr.func) in _TIMEDELTA_NAMES:
            return self._timedelta(expr)
        try:
            return ast.literal_eval(expr)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return Unknown(expr)

    def _timedelta(self, call: ast.Call) -> Any:
        try:
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            return dt.timedelta(*args, **kwargs)
        except (ValueError, TypeError, SyntaxError, OverflowError):
            return Unknown(call)


def _assignments(body: list[ast.stmt]) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                found[target.id] = stmt.value
        elif (
            isinstance(stmt, ast.AnnAssign)
            and stmt.value is not None
            and isinstance(stmt.target, ast.Name)
        ):
            found[stmt.target.id] = stmt.value
    return found


def duration(value: Any, *, number_unit: float = 1.0) -> str:
    """A duration as the graph shows it: human text. Numbers are in seconds times
    ``number_unit`` (``0.001`` where Cloudflare reads milliseconds: wait_for_event)."""
    if isinstance(value, Unknown):
        return value.text
    if isinstance(value, str):
        try:
            parse_duration(value)
        except ValidationError:
            return value
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = value * number_unit
    try:
        return format_duration(parse_duration(value))
    except ValidationError:
        return repr(value)


def timestamp(value: Any) -> str:
    """A ``sleep_until`` target as text."""
    if isinstance(value, Unknown):
        return value.text
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(value, dt.timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    return str(value)


def step_config(value: Any) -> Node:
    """The resolved config of a ``step.do``: defaults applied, as the REST steps show it.

    A delay function shows as ``"[dynamic]"`` (as in the REST steps); a value the source does not
    spell out shows as its source text (a duration) or the default (``limit``,
    ``backoff``: the SDK types them strictly); an invalid literal config shows
    the defaults.
    """
    written: dict[str, Any] = value if isinstance(value, dict) else {}
    retries: dict[str, Any] = written.get("retries") or {}
    if not isinstance(retries, dict):
        retries = {}
    unknown: dict[str, str] = {}
    known_retries: dict[str, Any] = {}
    for key, item in retries.items():
        if isinstance(item, Dynamic):
            known_retries[key] = _dynamic_delay
        elif isinstance(item, Unknown):
            unknown[key] = item.text
        else:
            known_retries[key] = item
    known: dict[str, Any] = {"retries": known_retries}
    timeout = written.get("timeout")
    if isinstance(timeout, Unknown):
        unknown["timeout"] = timeout.text
    elif timeout is not None:
        known["timeout"] = timeout
    try:
        resolved = StepConfig.parse(known).to_json()
    except ValidationError:
        resolved = StepConfig().to_json()
    for key, text in unknown.items():  # an unknown limit or backoff shows the default
        if key == "timeout":
            resolved["timeout"] = text
        elif key == "delay":
            resolved["retries"]["delay"] = text
    return resolved


def _dynamic_delay() -> float:  # stands in for a delay function when resolving a config
    return 0.0


def payload_shape(fields: dict[str, Any]) -> Node:
    """Cloudflare's JSON ``Shape``: ``{"type": "object", "fields": {...}}`` or unknown."""
    if not fields:
        return {"type": "unknown"}
    return {"type": "object", "fields": {k: payload_shape(v) for k, v in sorted(fields.items())}}
