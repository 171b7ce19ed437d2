"""``js``: the JavaScript globals Cloudflare's Python examples use, as Python no-ops.

``to_js(value, dict_converter=Object.fromEntries)`` is how the examples build
JS objects; here values stay Python, so ``Object.fromEntries`` builds a dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Object:
    """``Object.fromEntries(pairs)`` -> ``dict(pairs)``."""

    @staticmethod
    def fromEntries(entries: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:  # noqa: N802
        return dict(entries)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # the import system's own probes (__path__...)
        raise AttributeError(name)
    raise ImportError(
        f"js.{name} is not available: pyflow-actors runs CPython with no JavaScript side "
        "(only js.Object is provided, for to_js(..., dict_converter=Object.fromEntries))"
    )
