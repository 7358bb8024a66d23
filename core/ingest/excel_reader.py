"""XLSX (and old .xls) workbooks: the first sheet read by python-calamine through pandas, each
cell as the text a CSV export would show."""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Iterator

import duckdb

from core.ingest.cells import RawTable, cells_sql, check_width, first_line
from core.ingest.errors import (
    EmptyFileError,
    UnreadableFileError,
)
from core.ingest.layout import HEADER_SEARCH_ROWS, find_header, no_header_error, unique_headers
from core.store import registered


@contextlib.contextmanager
def excel_cells(
    con: duckdb.DuckDBPyConnection, data: bytes, file_name: str, table: str
) -> Iterator[RawTable]:
    import pandas as pd  # here: a CSV upload needs neither pandas nor calamine
    import pyarrow as pa

    try:
        frame = pd.read_excel(io.BytesIO(data), engine="calamine", header=None, dtype=object, sheet_name=0)
    except Exception as exc:  # calamine raises its own types for damaged workbooks
        raise UnreadableFileError(f"{file_name}: cannot be read as XLSX: {first_line(exc)}") from None
    if frame.empty:
        raise EmptyFileError(f"{file_name}: the first sheet is empty.")
    cells = frame.map(excel_cell_text)
    top = [
        [value if isinstance(value, str) else "" for value in row]
        for row in cells.head(HEADER_SEARCH_ROWS).itertuples(index=False)
    ]
    found = find_header(top)
    if found is None:
        raise no_header_error(file_name, top)
    body = cells.iloc[found + 1 :]
    used = [i for i in range(cells.shape[1]) if top[found][i] or body.iloc[:, i].notna().any()]
    width = used[-1] + 1 if used else 0
    check_width(width, file_name)
    headers = unique_headers(top[found][:width])
    arrow = pa.table(
        {
            f"c{i}": pa.array([v if isinstance(v, str) else None for v in body.iloc[:, i]], type=pa.string())
            for i in range(width)
        }
    )
    with registered(con, "excel_cells", arrow):
        yield RawTable(
            kind="xlsx",
            table=table,
            headers=headers,
            encoding=None,
            delimiter=None,
            header_row=found + 1,
            file_name=file_name,
            source=cells_sql("excel_cells", width, 0),
            date_system=_excel_date_system(data),
        )


def excel_cell_text(value: object) -> str | None:
    """A spreadsheet cell as the text a CSV export would show."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    if hasattr(value, "isoformat"):
        return (
            value.isoformat(sep=" ")
            if hasattr(value, "hour") and hasattr(value, "date")
            else value.isoformat()
        )
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else None


def _excel_date_system(data: bytes) -> int:
    """1904 when the workbook uses the Mac 1904 date system, else 1900."""
    with contextlib.suppress(zipfile.BadZipFile, KeyError):
        workbook = zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml")
        if re.search(rb'date1904="(1|true)"', workbook):
            return 1904
    return 1900
