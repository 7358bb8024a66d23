"""Checks made before a database is opened: that its connection string names a database
Dealcast may open (not a folder, not a CSV), and whether this process may write to it."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import InputError

#: The first bytes of a DuckDB database file hold this at offset 8.
_DUCKDB_MAGIC = b"DUCK"
#: Suffixes DuckDB opens as data files (a CSV read into a throwaway in-memory database), not
#: as a database: a new file with one of these is refused.
_DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".json", ".jsonl", ".ndjson", ".xlsx", ".gz")


def check_database(database: str) -> str:
    """``database`` when it names a database Dealcast may open: ``:memory:``, ``md:...``, a
    DuckDB file, or a new file in an existing folder. Raises InputError saying what is wrong
    (an empty string, a folder, a missing folder, a file that is not a DuckDB database)."""
    if not database or not database.strip():
        raise InputError(
            "The database connection string is empty (--db or DEALCAST_DB): give a DuckDB file path, "
            ":memory: or md:NAME."
        )
    if database.startswith((":memory:", "md:", "motherduck:")):
        return database
    path = Path(database).expanduser()
    if path.is_dir():
        raise InputError(f"The database {database} is a folder, not a DuckDB file (--db or DEALCAST_DB).")
    if path.exists():
        with path.open("rb") as handle:
            head = handle.read(12)
        if head[8:12] != _DUCKDB_MAGIC:
            raise InputError(f"The database {database} is not a DuckDB database file (--db or DEALCAST_DB).")
        return database
    if not path.parent.is_dir():
        raise InputError(
            f"The database {database} cannot be created: the folder {path.parent} does not exist."
        )
    if path.suffix.lower() in _DATA_SUFFIXES:
        raise InputError(
            f"The database {database} would be a new file named like a data file ({path.suffix}); "
            "name the DuckDB file e.g. dealcast.duckdb."
        )
    return database


def is_read_only(database: str) -> bool:
    """True for a database file this process may read but not write."""
    path = Path(database)
    return not database.startswith((":memory:", "md:", "motherduck:")) and path.is_file() and not os.access(
        path, os.W_OK
    )
