"""``python -m pyflow_actors.cli``: the ``pyflow`` command without its script."""

from __future__ import annotations

from .root import main

main()
