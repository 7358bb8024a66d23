"""Bytes of a CSV or XLSX export -> a DuckDB table of text cells, plus what was detected.

Every cell is read as text (``c0``, ``c1``, ...) so that value parsing (values.py) sees
exactly what the file says and can reject a row naming the bad value. The reader decides
the file type from its bytes (a PDF renamed .csv is caught here), the encoding (UTF-8
with or without BOM, UTF-16, else cp1252 with latin-1 for its five holes, transcoded in
Python because DuckDB's own cp1252 support downloads an extension), the delimiter, and
the header row (the first row that names known columns, so title rows above a report's
header are skipped). CSV cells are parsed by DuckDB's ``read_csv``; XLSX by
python-calamine through pandas.

``open_cells`` stops short of loading: it hands back the cells as a SQL source that a
caller may read once straight into its own table (a million rows then go from the file
to parsed values without a table of text in between); ``load_cells`` loads the source,
or its first rows, into a temporary table; ``read_table`` does both for the whole file.
For a CSV, ``typed_source`` reads the cells with some columns converted by DuckDB's
reader (rows it cannot convert are recorded, not loaded) and ``load_records`` loads
chosen records, given as text, with their positions in the file.

Rows that are not deals are not data: blank rows, ``Total``/``Grand Total`` rows and the
footer lines reports end with (``Grand Totals (5 records)``, ``Confidential Information``,
a copyright line) are left out of ``rows_read`` and reported as warnings. Row numbers
are spreadsheet rows: the header row's number plus the record's position after it.

This module tells the file type and opens it; the rest is in cells.py (``RawTable`` and the
SQL reading cells), csv_reader.py, excel_reader.py and layout.py (header, blank and summary
rows).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import zipfile
from collections.abc import Iterator

import duckdb

from core.ingest.cells import RawTable, load_cells
from core.ingest.csv_reader import csv_cells
from core.ingest.errors import (
    EmptyFileError,
    FileTooLargeError,
    NotTabularError,
    UnreadableFileError,
)
from core.ingest.excel_reader import excel_cells
from core.ingest.layout import mark_rows_to_keep

#: An XLSX is a zip read whole into memory: it is refused, before it is opened, when its
#: parts unpack to more than the upload limit, or (past ``BOMB_FLOOR_BYTES``) to more than
#: ``MAX_XLSX_RATIO`` times its size (real workbooks unpack to 3 to 20 times theirs; a zip
#: bomb of 205 KB unpacked to 200 MB).
MAX_XLSX_RATIO = 100
BOMB_FLOOR_BYTES = 16 * 1024 * 1024

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"SQLite format 3", "an SQLite database"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_table(
    con: duckdb.DuckDBPyConnection,
    data: bytes,
    file_name: str,
    *,
    max_bytes: int,
    table: str = "_ingest_raw",
    path: str | None = None,
) -> RawTable:
    """Load ``data`` into the temporary ``table`` on ``con``; raises an IngestError when it
    cannot. ``path``, when given, is a file holding exactly ``data`` that DuckDB may read
    directly instead of a temporary copy."""
    with open_cells(con, data, file_name, max_bytes=max_bytes, table=table, path=path) as raw:
        load_cells(con, raw)
    mark_rows_to_keep(con, raw, raw.table)
    return raw


@contextlib.contextmanager
def open_cells(
    con: duckdb.DuckDBPyConnection,
    data: bytes,
    file_name: str,
    *,
    max_bytes: int,
    table: str = "_ingest_raw",
    path: str | None = None,
) -> Iterator[RawTable]:
    """The cells of ``data`` as a ``RawTable`` whose ``source`` can be read while the block
    runs (nothing loaded yet); raises an IngestError when the file cannot be read."""
    check_size(data, file_name, max_bytes)
    if sniff_kind(data, file_name, max_bytes) == "xlsx":
        with excel_cells(con, data, file_name, table) as raw:
            yield raw
    else:
        with csv_cells(data, file_name, table, path) as raw:
            yield raw


def check_size(data: bytes, file_name: str, max_bytes: int) -> None:
    """Raise for a 0-byte file or one over ``max_bytes``."""
    if not data:
        raise EmptyFileError(f"{file_name}: the file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise FileTooLargeError(
            f"{file_name}: the file is {_megabytes(len(data))}, over the {_megabytes(max_bytes)} limit "
            "(raise DEALCAST_MAX_UPLOAD_MB to allow it)."
        )


def check_unpacked_size(unpacked: int, size: int, file_name: str, max_bytes: int) -> None:
    """Raise for a workbook whose parts unpack to more than ``max_bytes``, or to a suspicious
    multiple of its ``size`` (see ``MAX_XLSX_RATIO``)."""
    if unpacked > max_bytes or (unpacked > BOMB_FLOOR_BYTES and unpacked > MAX_XLSX_RATIO * size):
        raise FileTooLargeError(
            f"{file_name}: this XLSX of {_megabytes(size)} unpacks to {_megabytes(unpacked)}, over the "
            f"{_megabytes(max_bytes)} limit or {MAX_XLSX_RATIO} times its size; it was not opened "
            "(a zip bomb looks like this; raise DEALCAST_MAX_UPLOAD_MB for a real workbook that big)."
        )


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def sniff_kind(data: bytes, file_name: str, max_bytes: int) -> str:
    """``"csv"`` or ``"xlsx"`` (also old .xls) from the bytes, whatever the file name says; an
    XLSX that would unpack to too much (``check_unpacked_size``) is refused here."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise NotTabularError(f"{file_name}: this is {what}, not a CSV or XLSX export.")
    if data.startswith(_ZIP_MAGIC):
        try:
            parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
        except (zipfile.BadZipFile, ValueError, EOFError):
            raise UnreadableFileError(f"{file_name}: the XLSX (zip) file is damaged or cut short.") from None
        if "xl/workbook.xml" not in {part.filename for part in parts}:
            raise NotTabularError(f"{file_name}: this is a ZIP archive, not an XLSX workbook or CSV file.")
        check_unpacked_size(sum(part.file_size for part in parts), len(data), file_name, max_bytes)
        return "xlsx"
    if data.startswith(_OLE_MAGIC):
        return "xlsx"
    head = data[:8192]
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotTabularError(f"{file_name}: this is a binary file, not a CSV or XLSX export.")
    return "csv"
