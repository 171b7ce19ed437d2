"""``pyodide.ffi``: ``to_js`` and friends as no-ops; values stay Python here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class JsProxy:
    """Nothing is a JS proxy here; ``isinstance(x, JsProxy)`` is always False."""


def to_js(value: Any, *args: Any, **kwargs: Any) -> Any:
    """Returns ``value``: bindings take Python dicts, lists and scalars as they are."""
    return value


def create_proxy(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def create_once_callable(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    return func
