"""Every error class is in the one index, with a unique code and a unique number."""

from __future__ import annotations

import duckdb

from pyflow_actors import errors
from pyflow_actors.storage.duck import is_lock_conflict


def _all_errors() -> list[type[errors.PyflowError]]:
    found, todo = [], [errors.PyflowError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_has_a_unique_code_and_number() -> None:
    classes = _all_errors()
    codes = [c.code for c in classes]
    numbers = [c.numeric_code for c in classes]
    assert len(set(codes)) == len(codes), sorted(codes)
    assert len(set(numbers)) == len(numbers), sorted(numbers)


def test_every_error_round_trips_through_the_wire() -> None:
    for cls in _all_errors():
        rebuilt = errors.from_wire(cls("boom").to_wire())
        assert type(rebuilt) is cls and rebuilt.message == "boom"


def test_a_corrupt_block_is_not_taken_for_a_lock() -> None:
    corrupt = duckdb.IOException("Corrupt database file: checksum mismatch in block at 8192")
    locked = duckdb.IOException('IO Error: Could not set lock on file "/x": Conflicting lock')
    assert not is_lock_conflict(corrupt)
    assert is_lock_conflict(locked)
