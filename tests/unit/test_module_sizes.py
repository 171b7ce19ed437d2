"""The house stays easy to walk (DESIGN.md section 7): no module of the package or
the gateway over 500 lines; a module that grows past it is split by concern."""

from __future__ import annotations

from pathlib import Path

import pyflow_actors
import service

MAX_LINES = 500
ROOTS = (Path(pyflow_actors.__file__).parent, Path(service.__file__).parent)


def test_no_module_of_the_package_or_the_gateway_is_over_500_lines():
    sizes = {
        str(path.relative_to(root.parent)): len(path.read_text().splitlines())
        for root in ROOTS
        for path in root.rglob("*.py")
    }
    assert len(sizes) > 100  # both trees were walked
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
