"""``workers``: Cloudflare's Python Workers module, as pyflow-actors provides it.

Served only when no other distribution provides ``workers`` (see ``_finder``).
"""

from pyflow_workers_compat.workers import *  # noqa: F403
from pyflow_workers_compat.workers import __all__ as _exported

from . import workflows  # noqa: F401 - `import workers; workers.workflows` works too

__all__ = list(_exported)

_NOT_HERE = {
    "DurableObject": "Durable Objects are not part of pyflow-actors",
    "fetch": "use httpx (installed with pyflow-actors) for outgoing HTTP",
    "import_from_javascript": "there is no JavaScript side in pyflow-actors",
}


def __getattr__(name: str) -> object:
    if name in _NOT_HERE:
        raise ImportError(f"workers.{name} is not available: {_NOT_HERE[name]}")
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
