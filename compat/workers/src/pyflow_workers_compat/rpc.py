"""The FFI conversions of Python Workers, as no-ops: here there is no JavaScript side.

On Cloudflare, values cross into JavaScript (``to_js``, ``python_to_rpc``) and
back (``python_from_rpc``); here bindings take and return Python values, so
each returns what it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def python_from_rpc(value: Any) -> Any:
    """Returns ``value``: binding results are Python values already."""
    return value


def python_to_rpc(value: Any) -> Any:
    """Returns ``value``: bindings take Python values."""
    return value


def handler(func: F) -> F:
    """The ``@handler`` decorator of old Python Workers: the function itself."""
    return func
