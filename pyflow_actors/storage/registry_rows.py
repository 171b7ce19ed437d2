"""What the registry last wrote of each unfinished instance, to write only what changed.

A registry row has 23 columns besides its key; a status change touches two to
seven of them. DuckDB stores columns apart, so an ``UPDATE`` costs per column
set: the whole row was ~1.3 ms of CPU here, the columns that changed ~0.6-1 ms,
and a save that changed nothing (a row saved again in one batch, a flush) no
statement at all. The registry's row writes were the largest share of the
supervisor's CPU per shared instance (issue 17's profile).

Only rows not yet final are kept (the ones that still change, and few at any
time); a row not kept is written whole, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from ..statuses import FINAL_STATUSES

Key = tuple[str, str]
_FINAL = frozenset(status.value for status in FINAL_STATUSES)


class SavedRows:
    """The values last committed per row (``InstanceRow.to_db()`` order: key first)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._values: dict[Key, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self._values)

    def update(self, values: list[Any]) -> tuple[str, list[Any]] | None:
        """The ``UPDATE`` of ``values``' row and its parameters: the columns changed
        since its last commit (every column if that is not known); None: no change."""
        before = self._values.get((values[0], values[1]))
        if before is None:
            changed = tuple(range(2, len(values)))
        else:
            changed = tuple(i for i in range(2, len(values)) if values[i] != before[i])
            if not changed:
                return None
        return _statement(self.columns, changed), [values[i] for i in changed] + values[:2]

    def committed(self, rows: Iterable[list[Any]]) -> None:
        """These values are in the file now (called once their transaction committed)."""
        for values in rows:
            key = (values[0], values[1])
            if values[2] in _FINAL:  # done changing (mostly): not kept
                self._values.pop(key, None)
            else:
                self._values[key] = tuple(values)

    def forget(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self._values.pop(key, None)

    def forget_workflow(self, workflow: str) -> None:
        for key in [k for k in self._values if k[0] == workflow]:
            del self._values[key]

    def clear(self) -> None:
        """Nothing known (a transaction failed: its rows may or may not be written)."""
        self._values.clear()


@functools.lru_cache(maxsize=256)
def _statement(columns: tuple[str, ...], changed: tuple[int, ...]) -> str:
    sets = ", ".join(f"{columns[i]} = ?" for i in changed)
    return f"UPDATE instances SET {sets} WHERE workflow = ? AND id = ?"
