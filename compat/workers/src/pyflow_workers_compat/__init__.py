"""pyflow-workers-compat: Cloudflare's Python Workers imports, served by pyflow-actors.

``import workers``, ``import js`` and ``import pyodide`` resolve to the modules
in ``_modules/`` only when no other installed distribution provides them (see
:mod:`pyflow_workers_compat._finder`). Explicit imports that work whatever is
installed:

.. code-block:: python

    from pyflow_workers_compat.workers import Response, WorkerEntrypoint, WorkflowEntrypoint
    from pyflow_workers_compat.workflows import NonRetryableError
"""

from __future__ import annotations

from ._finder import SERVED, install, serves

__all__ = ["SERVED", "install", "serves"]
