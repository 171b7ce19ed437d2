"""Golden journals: files written by earlier releases that every later release must open and replay.

``v<N>/`` holds the journals one release wrote (``journals/<workflow>/<id>.duckdb``)
and what they record (``expected.json``); ``write_golden.py`` wrote them from
the workflows in ``workflows.py``. Never rewrite an existing ``v<N>``: add a new
one when the journal format changes.
"""
