"""The rows a journal wrote since it was made empty, kept in memory (no read-back).

A shared host's journal comes from its stock, known empty (``journal_stock.py``).
While everything it holds went in through this process as whole step rows (a
step its first attempt ended, a sleep or wait begun), reading them back needs
no ``SELECT``: the copy a final run carries to the history fold, a
``describe``, a replay. Reading them back from DuckDB was ~14% of a host's CPU
per 3-step instance (issue 17's profile). Any other write (an attempt row, an
``UPDATE``, an event, an erase, a transaction that did not commit) makes the
rows unknown, and the journal reads its file again from then on.
"""

from __future__ import annotations

from dataclasses import replace

from ..engine.records import StepRecord
from .journal_rows import ATTEMPTED, first_attempt


class WrittenRows:
    """The step rows of a journal that held none when opened (``known``), as written."""

    def __init__(self, empty: bool) -> None:
        self._steps: dict[str, StepRecord] | None = {} if empty else None

    @property
    def known(self) -> bool:
        """True while the file holds exactly the rows kept here (and no event)."""
        return self._steps is not None

    def step(self, record: StepRecord) -> None:
        """A step row was written (committed, or inside a transaction whose failure
        calls :meth:`forget`)."""
        if self._steps is not None:
            self._steps[record.key] = replace(record, attempts=[])

    def forget(self) -> None:
        """The file changed in a way not kept here: read it from now on."""
        self._steps = None

    def steps(self) -> dict[str, StepRecord]:
        """The rows as ``journal_rows.read_steps`` returns them: fresh copies, in the
        order the steps began, an ended step's one attempt read from its row."""
        assert self._steps is not None, "the written rows are not known"
        out = {}
        for record in sorted(self._steps.values(), key=lambda r: r.seq):
            copy = replace(record, attempts=[])
            if copy.kind in ATTEMPTED and copy.state != "running":
                copy.attempts.append(first_attempt(copy))
            out[copy.key] = copy
        return out
