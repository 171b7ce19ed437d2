"""``pyflow``: the command line, mirroring ``wrangler workflows``.

.. code-block:: sh

    pyflow dev --config examples/pyflow.toml        # engine (local Ray) + gateway
    pyflow list
    pyflow trigger hello '{"name": "world"}'
    pyflow instances list hello --status complete
    pyflow instances describe hello latest
    pyflow instances send-event onboarding user-42 --type approved --payload '{"by": "ops"}'

Every command but ``dev`` talks to the gateway over HTTP: ``--url``,
``--token`` and ``--account`` (or ``PYFLOW_URL``, ``PYFLOW_TOKEN``,
``PYFLOW_ACCOUNT``); with none of them, run in the project folder, the CLI
finds the running ``pyflow dev`` of the project (see ``dev_session``).
``--json`` (before or after the command) prints the REST result as JSON. On
failure a command prints one line (``error: <code>: <message>``) and exits with 1.

The package, one module per concern (imports flow down this list):

- ``root``: the app, its global options and the command tree;
- ``dev``: ``pyflow dev``, the engine and the gateway in one process;
- ``workflows``: ``list``, ``describe``, ``delete``, ``trigger``;
- ``versions``: ``pyflow workflows graph|versions``;
- ``instances``: ``pyflow instances ...``; ``steps``: its steps table;
- ``subscriptions``: ``pyflow subscriptions dead-letters``;
- ``gateway``: the REST connection and the helpers the commands share;
- ``output``: the consoles, the one-line failure, times and statuses.
"""

from __future__ import annotations

from .gateway import Gateway
from .root import app, main

__all__ = ["Gateway", "app", "main"]
