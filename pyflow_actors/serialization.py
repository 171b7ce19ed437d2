"""JSON encoding of step results, params, event payloads and outputs.

Values must be JSON-serializable. Pydantic models are dumped (``model_dump``
in JSON mode), dataclasses become dicts, and any object with a ``__json__()``
method (instance handles, for example) becomes what that method returns.

Some values JSON cannot carry exactly are converted, the same way on the first
run and on every replay (the workflow always sees the decoded JSON):

=====================  ==========================================
value                  becomes
=====================  ==========================================
``tuple``              a list
``set``/``frozenset``  a list, sorted by ``repr``
``datetime``/``date``  an ISO 8601 string (``isoformat()``)
``time``               an ISO 8601 string
``Decimal``            a string (``str(d)``: no digit is lost)
=====================  ==========================================

:func:`inexact_types` names the ones present in a value (the engine logs a
warning once per step). Anything else (bytes, arbitrary objects) is a clear error.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import json
from typing import Any

from .errors import NotSerializable

__all__ = ["NotSerializable", "dumps", "inexact_types", "loads", "roundtrip"]


def _default(obj: Any) -> Any:
    to_json = getattr(obj, "__json__", None)
    if callable(to_json):
        return to_json()
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        raise TypeError("bytes are not JSON: decode them or base64-encode them first")
    raise TypeError(f"object of type {type(obj).__name__} is not JSON-serializable")


def dumps(value: Any, *, what: str = "value") -> str:
    """Compact JSON text of ``value``; raises :class:`NotSerializable`."""
    try:
        return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotSerializable(f"{what} is not JSON-serializable: {exc}") from None
    except RecursionError:
        raise NotSerializable(f"{what} is nested too deeply to be serialized as JSON") from None


class JsonObject(dict[str, Any]):
    """A decoded JSON object whose keys also read as attributes.

    What a step returned comes back from the journal as JSON; a handle
    returned from a step (``child = await step.do(...)(lambda: env.X.create())``)
    is then ``{"id", "workflow"}``, and ``child.id`` works as on Cloudflare,
    as does ``child["id"]``. It is a plain ``dict`` otherwise.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no key {name!r} in {sorted(self)}") from None


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_hook=JsonObject)


def roundtrip(value: Any, *, what: str = "value") -> tuple[Any, str]:
    """``(decoded, text)``: what the workflow sees is exactly what replay returns."""
    text = dumps(value, what=what)
    return loads(text), text


_INEXACT = (tuple, set, frozenset, _dt.datetime, _dt.date, _dt.time, decimal.Decimal)


def inexact_types(value: Any, *, limit: int = 100_000) -> list[str]:
    """Names of the types in ``value`` that JSON converts (see the table above).

    Walks dicts, lists, tuples and sets (at most ``limit`` items); pydantic
    models and dataclasses are not looked into (their dump is their contract).
    """
    found: set[str] = set()
    stack = [value]
    seen = 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, _INEXACT):
            found.add(type(item).__name__)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return sorted(found)


def inexact_warning(step: str, types: list[str]) -> str:
    """The once-per-step warning for a step output JSON converts."""
    return (
        f"step {step!r} returned {', '.join(types)}: JSON stores them converted "
        "(tuples and sets as lists, dates, times and Decimals as strings); "
        "the workflow sees the converted value, on the first run and on replay"
    )
