"""Running the forecast's SQL over pandas frames, for callers that hold a frame rather than a table.

The rules and the aggregation are DuckDB SQL; the command line runs them over the stored
tables, and everything that holds a frame (the dashboard's cached run, the learned and LLM
engines, the single-deal API) runs the same SQL over that frame through ``frames``.
DuckDB scans a pandas frame in place (no copy): Categoricals read as ENUM, ``datetime64[s]``
as TIMESTAMP_S, Arrow-backed strings as VARCHAR.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    """One private in-memory database per process; opening a database costs ~20 ms, a cursor ~1."""
    return duckdb.connect(":memory:")


@contextlib.contextmanager
def frames(**named: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of its own (a cursor of the private database) that sees each frame under its name.

    Each call gets its own cursor, so threads (the dashboard's sessions) never see each
    other's frames; the names are gone when the block ends."""
    cursor = _database().cursor()
    try:
        for name, frame in named.items():
            cursor.register(name, frame)
        yield cursor
    finally:
        cursor.close()
