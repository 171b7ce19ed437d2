"""JSON encoding of step results, params, event payloads and outputs.

Values must be JSON-serializable. Pydantic models are dumped (``model_dump``
in JSON mode), dataclasses become dicts, datetimes become ISO strings, and any
object with a ``__json__()`` method (instance handles, for example) becomes
what that method returns. Anything else is a clear error.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any

# Defined with every other error, in errors.py; re-exported for existing imports.
from .errors import NotSerializable as NotSerializable


def _default(obj: Any) -> Any:
    to_json = getattr(obj, "__json__", None)
    if callable(to_json):
        return to_json()
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
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


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def roundtrip(value: Any, *, what: str = "value") -> tuple[Any, str]:
    """``(decoded, text)``: what the workflow sees is exactly what replay returns."""
    text = dumps(value, what=what)
    return json.loads(text), text
