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
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias

import duckdb

if TYPE_CHECKING:
    import numpy as np
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


#: What the forecast's SQL reads: a pandas frame, or a DuckDB relation (say, over a stored table).
Source: TypeAlias = "pd.DataFrame | duckdb.DuckDBPyRelation"


#: A query's result (a relation's, or a connection's after ``execute``): ``fetchall``, ``fetchnumpy``.
Result: TypeAlias = "duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection"


def literal(value: object) -> str:
    """``value`` as a SQL constant, written by DuckDB (text quoted, dates and numbers typed).

    For SQL that must read a relation as well as a frame: a relation's ``query`` takes no
    parameters."""
    return str(duckdb.ConstantExpression(value))


@contextlib.contextmanager
def _reading(source: Source, name: str, columns: Sequence[str]) -> Iterator[Callable[[str], Result]]:
    """A function that runs SQL reading ``source`` under ``name``."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        yield lambda sql: source.query(name, sql)
        return
    # Only the columns the SQL reads: binding a frame reads the types of all it is given.
    with frames(**{name: source.loc[:, list(columns)]}) as con:
        yield con.execute  # cheaper than ``con.sql``, which plans the statement twice


def rows(source: Source, name: str, columns: Sequence[str], sql: str) -> list[tuple]:
    """The rows of ``sql``, which reads ``source`` (its ``columns``) under ``name``."""
    with _reading(source, name, columns) as query:
        return query(sql).fetchall()


def arrays(source: Source, name: str, columns: Sequence[str], sql: str) -> dict[str, np.ndarray]:
    """The columns of ``sql`` as numpy arrays, one value per row of ``source`` in its order
    when the SQL only projects (DuckDB keeps the insertion order)."""
    with _reading(source, name, columns) as query:
        return query(sql).fetchnumpy()
