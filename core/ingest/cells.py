"""A file's cells as text in DuckDB: ``RawTable``, the SQL that reads cells, and loading them.

Every reader (csv_reader.py, excel_reader.py) hands back a ``RawTable`` whose ``source``
reads the cells ``c0..`` with the flags the row tests use (``_overflow``, ``_filled``,
``_total``, ``_first``, see ``cells_sql``); ``load_cells`` loads them into a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from core.ingest.errors import (
    FileTooLargeError,
    UnreadableFileError,
)

#: Extra columns read beyond the header, to catch rows with more fields than names.
SPARE_COLUMNS = 8
#: Skipped rows named in a warning.
ROWS_SHOWN = 5
#: Most columns a file may have. A deal export with a thousand custom fields is read; past
#: this, DuckDB's planning time for the per-cell expressions grows with the square of the
#: width (10,000 columns take minutes), so the file is refused at once saying why.
MAX_COLUMNS = 2_000
#: Past this many columns the cells are trimmed by the plainer SQL (see ``_trimmed``).
WIDE_COLUMNS = 200

PARALLEL = "parallel := true"

#: A row whose first filled cell is only this is a summary row, not a deal.
TOTAL_ROW = r"^(grand\s+)?(sub-?\s?)?totals?(\s*\(\d+\s+records?\))?\s*:?$"

#: Rows that hold something and are not a total: the data rows, before footers are known.
DATA_ROWS = "(_filled > 0 AND NOT _total)"


@dataclass
class RawTable:
    """A file's cells as text: ``source`` (SQL, with ``params``) reads them from the file,
    ``table`` is where ``load_cells`` put them in a DuckDB connection.

    Both have ``c0..c{n-1}`` (one per header), ``_overflow`` (the row had more fields than
    the header), ``_filled`` (cells holding something), ``_total`` (a total row) and
    ``_first`` (the first filled cell of a total or one-cell row); ``row`` is the SQL for
    a row's spreadsheet number and ``keep`` the condition that leaves out blank, total and
    footer rows.
    """

    kind: str
    table: str
    headers: list[str]
    encoding: str | None
    delimiter: str | None
    header_row: int
    file_name: str = ""
    source: str = ""
    params: list = field(default_factory=list)
    date_system: int = 1900
    blank_rows: int = 0
    summary_rows: list[str] = field(default_factory=list)
    keep: str = DATA_ROWS
    #: A record's position among the file's records (0 for the first after the header):
    #: ``rowid`` when ``table`` holds them all in file order, else a column of ``table``.
    position: str = "rowid"
    #: A CSV's ``read_csv`` options (its lines before the first record: ``skip``) and whether
    #: every byte of it is ASCII: what ``typed_source`` and ``load_records`` read it with.
    csv_options: dict = field(default_factory=dict)
    ascii_only: bool = False

    @property
    def row(self) -> str:
        """SQL for the spreadsheet row number of a record of ``table``."""
        return self.row_of("")

    def row_of(self, alias: str) -> str:
        """SQL for the spreadsheet row number of a record of a table named ``alias`` (with its
        dot; "" for none) that carries ``position`` from ``table``."""
        return f"({alias}{self.position} + {self.header_row + 1})"

    @property
    def warnings(self) -> list[str]:
        """What was skipped, once ``mark_rows_to_keep`` has looked."""
        warnings = []
        if self.blank_rows:
            warnings.append(f"{self.blank_rows} blank row(s) skipped.")
        if self.summary_rows:
            warnings.append(
                f"{len(self.summary_rows)} total/footer row(s) skipped: "
                + "; ".join(self.summary_rows[:ROWS_SHOWN])
            )
        return warnings


def read_cells(con: duckdb.DuckDBPyConnection, raw: RawTable, statement: Callable[[str], str]) -> None:
    """Run ``statement(source)`` over the file's cells. A CSV that cannot be read raises
    UnreadableFileError; quoted line breaks in short rows get the single-threaded reader,
    which they need."""
    try:
        con.execute(statement(raw.source), raw.params)
    except duckdb.Error as exc:
        if raw.kind != "csv":
            raise
        if "parallel" in str(exc) and PARALLEL in raw.source:
            raw.source = raw.source.replace(PARALLEL, "parallel := false")
            read_cells(con, raw, statement)
            return
        raise UnreadableFileError(f"{raw.file_name}: cannot be read as CSV: {first_line(exc)}") from None


def load_cells(con: duckdb.DuckDBPyConnection, raw: RawTable, limit: int | None = None) -> int:
    """Load the cells (the first ``limit`` rows, or all) into ``raw.table``; return the rows loaded."""
    cut = "" if limit is None else f" LIMIT {int(limit)}"
    read_cells(
        con, raw, lambda source: f"CREATE OR REPLACE TEMP TABLE {raw.table} AS SELECT * FROM {source}{cut}"
    )
    return con.execute(f"SELECT count(*) FROM {raw.table}").fetchall()[0][0]


def check_width(width: int, file_name: str) -> None:
    """Raise for a file with more than ``MAX_COLUMNS`` columns."""
    if width > MAX_COLUMNS:
        raise FileTooLargeError(
            f"{file_name}: the header has {width:,} columns, more than the {MAX_COLUMNS:,} a deal export "
            "can have; remove the columns you do not need and upload it again."
        )


def cells_sql(
    source: str, width: int, spare: int, ascii_only: bool = False, typed: set[str] = frozenset()
) -> str:
    """SQL reading ``source`` (columns c0..) as cells: the header's columns trimmed (NULL when
    blank), ``_overflow`` (the row had more fields than the header), ``_filled`` (how many
    cells hold something, counted up to 2: the row tests only tell blank, one cell and more),
    ``_total`` (the first filled cell says Total) and ``_first`` (that cell, on total rows and
    rows of one cell). Columns in ``typed`` come converted (not trimmed) and, as a number or
    date cannot say Total, are not looked at for it."""
    trimmed = ", ".join(
        f"{f'c{i}' if f'c{i}' in typed else _trimmed(f'c{i}', ascii_only, width > WIDE_COLUMNS)} AS c{i}"
        for i in range(width)
    )
    overflow = " OR ".join(f"c{i} IS NOT NULL" for i in range(width, width + spare)) or "false"
    # One list, not a chain of additions: a chain nests one level per column and a file of a
    # thousand columns passed DuckDB's expression depth limit.
    flags = ", ".join(f"(c{i} IS NOT NULL)::INTEGER" for i in range(width))
    filled = f"list_sum([{flags}])" if width else "0"
    if width >= 2:  # most rows fill their first two cells and need no count
        filled = f"CASE WHEN c0 IS NOT NULL AND c1 IS NOT NULL THEN 2 ELSE least(2, {filled}) END"
    first = f"coalesce({', '.join(f'c{i}' for i in range(width) if f'c{i}' not in typed) or 'NULL'})"
    total = f"CASE WHEN _head ILIKE '%total%' THEN regexp_matches(_head, '{TOTAL_ROW}', 'i') ELSE false END"
    return f"""(SELECT * EXCLUDE (_head), CASE WHEN _filled = 1 OR _total THEN _head END AS _first
        FROM (SELECT *, {total} AS _total
              FROM (SELECT *, {filled} AS _filled, {first} AS _head
                    FROM (SELECT {trimmed}, ({overflow}) AS _overflow FROM {source}))))"""


def _trimmed(c: str, ascii_only: bool, wide: bool = False) -> str:
    """SQL: ``c`` trimmed, NULL when blank. ``trim`` copies every value, so values it would
    leave alone pass as they are: ASCII (byte length = character length, where the space is
    the only character trim removes; known for every value of an ASCII file) with no space
    at either end. A ``wide`` file gets the plain form, which DuckDB plans several times
    faster when there are hundreds of columns."""
    if wide:
        return f"NULLIF(trim({c}), '')"
    ascii_value = "" if ascii_only else f"strlen({c}) = length({c}) AND "
    plain = f"{ascii_value}NOT prefix({c}, ' ') AND NOT suffix({c}, ' ') AND {c} <> ''"
    return f"CASE WHEN {plain} THEN {c} ELSE NULLIF(trim({c}), '') END"


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
