"""The import hook: a fallback finder for ``workers``, ``js`` and ``pyodide``.

It sits at the end of ``sys.meta_path``, after the finders of everything
installed, so it is asked only for a name nobody else has: a real ``workers``
distribution or a real Pyodide's ``js``/``pyodide`` always wins, and this
package never writes a top-level package of those names into site-packages.
Submodules (``workers.workflows``, ``pyodide.ffi``) are found by Python's own
path finder in the folder of the module served here.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_MODULES = Path(__file__).resolve().parent / "_modules"
SERVED = ("workers", "js", "pyodide")


class FallbackFinder(importlib.abc.MetaPathFinder):
    """Finds ``workers``, ``js`` and ``pyodide`` in ``_modules/`` when nothing else did."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in SERVED:
            return None
        package = _MODULES / fullname / "__init__.py"
        if package.is_file():
            return importlib.util.spec_from_file_location(
                fullname, package, submodule_search_locations=[str(package.parent)]
            )
        module = _MODULES / f"{fullname}.py"
        return importlib.util.spec_from_file_location(fullname, module)


def install() -> None:
    """Append the finder once (the ``.pth`` hook calls this at interpreter start)."""
    if not any(isinstance(f, FallbackFinder) for f in sys.meta_path):
        sys.meta_path.append(FallbackFinder())


def serves(name: str) -> bool:
    """Whether ``import name`` gives this package's module (False: a real one is installed)."""
    spec = importlib.util.find_spec(name)
    return (
        spec is not None and spec.origin is not None and Path(spec.origin).is_relative_to(_MODULES)
    )
