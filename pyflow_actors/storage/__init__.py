"""Storage: the DuckDB files the engine keeps, one module per file kind.

* ``journal.py``: an instance's journal (``journals/<workflow>/<id>.duckdb``),
  written only by that instance's actor; the source of truth for execution.
* ``registry.py``: the supervisor's registry (``registry.duckdb``): instance
  index, queue, alarms, events for instances that are not live, workflows.
* ``duck.py``: what both share: one translation of DuckDB errors into
  ``StorageUnavailable``/``JournalCorrupt``/``JournalLocked``, and transactions.

Nothing is re-exported here, so importing this package loads no DuckDB; the
gateway never imports it.
"""
