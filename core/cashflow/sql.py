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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Select:
    """A SELECT and its parameters, run on ``connection`` (the rules over a stored snapshot).

    SQL that reads it runs as one statement, the SELECT inlined as a common table expression,
    so DuckDB plans it once: a relation's ``query`` plans the whole of it twice, which costs a
    command ~40 ms (more than the rows of a small snapshot)."""

    connection: duckdb.DuckDBPyConnection
    sql: str
    params: tuple = ()

    def relation(self) -> duckdb.DuckDBPyRelation:
        return self.connection.sql(self.sql, params=list(self.params))


#: What the forecast's SQL reads: a pandas frame, a DuckDB relation, or a ``Select``.
Source: TypeAlias = "pd.DataFrame | duckdb.DuckDBPyRelation | Select"


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
    if isinstance(source, Select):
        cursor = source.connection.cursor()  # its own: a result left unread elsewhere does not block it
        try:
            yield lambda sql: cursor.execute(
                f"WITH {name} AS ({source.sql}) SELECT * FROM ({sql})", list(source.params)
            )
        finally:
            cursor.close()
        return
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
