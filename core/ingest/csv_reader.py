"""CSV files: encoding, delimiter and header row, then DuckDB's ``read_csv`` for the cells.

UTF-8 with or without BOM, UTF-16, else cp1252 with latin-1 for its five holes (transcoded in
Python because DuckDB's own cp1252 support downloads an extension). ``typed_source`` reads
the cells with some columns converted by DuckDB's reader, ``load_records`` loads chosen
records given as text (both for the direct load).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import duckdb

from core.ingest.cells import PARALLEL, SPARE_COLUMNS, RawTable, cells_sql, check_width, load_cells
from core.ingest.errors import (
    EmptyFileError,
)
from core.ingest.layout import find_header, no_header_error, unique_headers

DELIMITERS = (",", ";", "\t", "|")
#: How much of the top of a file is examined for delimiter and header row.
HEAD_BYTES = 256 * 1024
HEAD_RECORDS = 60
#: Bytes looked at a time when checking that a whole file is UTF-8 or counting its lines:
#: bounds the memory it takes, and a slice this small reuses the allocator's memory (each
#: 32 MB slice was mapped afresh, a page fault per 4 KB: a 280 MB file took 0.35 s to check
#: as UTF-8 instead of 0.04 s, and 0.1 s instead of 0.03 s to count its lines).
SLICE_BYTES = 1024 * 1024


@contextlib.contextmanager
def csv_cells(data: bytes, file_name: str, table: str, path: str | None) -> Iterator[RawTable]:
    """UTF-8 when every byte says so (checked here, so a source never fails half-way on a
    stray byte); cp1252 otherwise."""
    encoding, utf8, ascii_only = _as_utf8(data)
    raw = _csv_layout(utf8, encoding, file_name, table, ascii_only=ascii_only)
    with _temporary_file(utf8, path if encoding == "utf-8" else None) as csv_path:
        raw.params = [csv_path]
        yield raw


def _csv_layout(
    utf8: bytes | memoryview, encoding: str, file_name: str, table: str, *, ascii_only: bool
) -> RawTable:
    """Delimiter, header row and the ``read_csv`` source of a CSV's cells (``params`` holds the
    path); ``ascii_only`` says every byte of the file is ASCII."""
    head = bytes(utf8[:HEAD_BYTES]).decode("utf-8", errors="replace")
    if not head.strip():
        raise EmptyFileError(f"{file_name}: the file has no rows, only blank lines.")
    delimiter = _sniff_delimiter(head)
    records = _head_records(head, delimiter)
    found = find_header([cells for cells, _ in records])
    if found is None:
        raise no_header_error(file_name, [cells for cells, _ in records])
    header_cells, lines_to_skip = records[found]
    check_width(len(header_cells), file_name)
    headers = unique_headers(header_cells)
    options = {
        "auto_detect": False,
        "header": False,
        "skip": lines_to_skip,
        "delim": delimiter,
        "quote": '"',
        "escape": '"',
        "columns": {f"c{i}": "VARCHAR" for i in range(len(headers) + SPARE_COLUMNS)},
        "null_padding": True,
        "strict_mode": False,
    }
    return RawTable(
        kind="csv",
        table=table,
        headers=headers,
        encoding=encoding,
        delimiter=delimiter,
        header_row=found + 1,
        file_name=file_name,
        source=_read_csv_sql(options, len(headers), ascii_only),
        csv_options=options,
        ascii_only=ascii_only,
    )


def _read_csv_sql(options: dict, width: int, ascii_only: bool, typed: dict[str, str] | None = None) -> str:
    """The cells source (``cells_sql``) of ``read_csv`` with ``options``; ``typed`` gives some
    columns a type for DuckDB's reader to convert them to."""
    if typed:
        options = {**options, "columns": {**options["columns"], **typed}}
    args = "".join(f", {key} := {_sql_value(value)}" for key, value in options.items())
    return cells_sql(f"read_csv(?{args}, {PARALLEL})", width, SPARE_COLUMNS, ascii_only, set(typed or ()))


def typed_source(
    raw: RawTable, typed: dict[str, str], rejects_table: str, rejects_scan: str, formats: dict[str, str]
) -> str:
    """SQL (with ``raw.params``) reading a CSV's cells with the columns in ``typed`` converted by
    DuckDB's reader, dates by the ``read_csv`` options in ``formats`` (``dateformat``...). A row
    with a value it cannot convert is left out and recorded in the temporary ``rejects_table``
    (its ``line``, counted in records from the top of the file as ``csv_options["skip"]``
    counts lines, and ``csv_line``, the row's text)."""
    options = {
        **raw.csv_options,
        **formats,
        "store_rejects": True,
        "rejects_table": rejects_table,
        "rejects_scan": rejects_scan,
    }
    return _read_csv_sql(options, len(raw.headers), raw.ascii_only, typed)


def count_lines(data: bytes) -> int:
    """Lines in ``data`` (the last need not end with a newline), counted by numpy in slices,
    which leaves the GIL free for other threads and bounds the memory the count takes. (numpy
    is imported here: the count runs in the thread that packs the raw bytes, which loads it with
    pyarrow, off the start of an ingest.)"""
    import numpy as np

    view = np.frombuffer(data, dtype=np.uint8)
    newlines = sum(
        int(np.count_nonzero(view[start : start + SLICE_BYTES] == ord("\n")))
        for start in range(0, len(view), SLICE_BYTES)
    )
    return newlines + (bool(data) and not data.endswith(b"\n"))


def holds_control_whitespace(data: bytes) -> bool:
    """Whether ``data`` holds a tab, vertical tab or form feed, or a carriage return that does
    not end a line (before a line feed): what DuckDB's date formats skip around a date (a cell
    of a tab and a date) and the text parse does not, so a direct load converts no dates.
    Single bytes are found by ``bytes.find`` (fast); returns, when there are any, by numpy
    in slices."""
    if any(data.find(byte) != -1 for byte in (b"\t", b"\x0b", b"\x0c")):
        return True
    if data.find(b"\r") == -1:
        return False
    if data.endswith(b"\r"):
        return True
    import numpy as np

    view = np.frombuffer(data, dtype=np.uint8)
    for start in range(0, len(view) - 1, SLICE_BYTES):
        part = view[start : start + SLICE_BYTES + 1]  # and the byte after the slice
        returns = np.flatnonzero(part[:-1] == ord("\r"))
        if np.any(part[returns + 1] != ord("\n")):
            return True
    return False


def load_records(
    con: duckdb.DuckDBPyConnection, raw: RawTable, records: list[tuple[int, str]], table: str
) -> tuple[RawTable, int]:
    """Load some records of a CSV, given as (position among its records, text), into the
    temporary ``table`` as ``raw`` reads the whole file, each with its ``position``; return
    the ``RawTable`` of that table and the rows loaded (more than the records when a text
    holds a line break that splits it)."""
    text = "".join(line.lstrip("\r\n") + "\n" for _, line in records)
    part = replace(
        raw,
        table=table,
        source=_read_csv_sql({**raw.csv_options, "skip": 0}, len(raw.headers), raw.ascii_only),
        position="_position",
    )
    with _temporary_file(text.encode("utf-8")) as path:
        part.params = [path]
        loaded = load_cells(con, part)
    con.execute(f"ALTER TABLE {table} ADD COLUMN _position BIGINT")
    # Rows of a table made inside a transaction have row ids from a large base, not 0.
    con.execute(
        f"UPDATE {table} SET _position = (?::BIGINT[])[rowid - (SELECT min(rowid) FROM {table}) + 1]",
        [[at for at, _ in records]],
    )
    return part, loaded


def _sql_value(value: object) -> str:
    """A ``read_csv`` option value as SQL (the options are this module's own constants and
    the sniffed delimiter)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_sql_value(k)}: {_sql_value(v)}" for k, v in value.items()) + "}"
    return "'" + str(value).replace("'", "''") + "'"


def _as_utf8(data: bytes) -> tuple[str, bytes | memoryview, bool]:
    """The encoding the file uses, its content as UTF-8 (a view, no copy, when it already is)
    and whether it is all ASCII. An ASCII file is UTF-8 at once; any other is decoded in
    slices to check every byte."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", data.decode("utf-16", errors="replace").encode("utf-8"), False
    bom = data.startswith(codecs.BOM_UTF8)
    view = memoryview(data)[len(codecs.BOM_UTF8) if bom else 0 :]
    ascii_only = data.isascii()
    if not (ascii_only or _decodes_as_utf8(view)):
        return "cp1252", _transcode(bytes(view)), False
    return ("utf-8-sig" if bom else "utf-8"), view, ascii_only


def _decodes_as_utf8(view: memoryview) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(view), SLICE_BYTES):
            decoder.decode(view[start : start + SLICE_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _transcode(data: bytes) -> bytes:
    """cp1252 to UTF-8; the five bytes cp1252 leaves undefined are read as latin-1."""
    return data.decode("cp1252", errors="_dealcast_latin1").encode("utf-8")


def _latin1_fallback(exc: UnicodeDecodeError) -> tuple[str, int]:
    bad = exc.object[exc.start : exc.end]
    return bytes(bad).decode("latin-1"), exc.end


codecs.register_error("_dealcast_latin1", _latin1_fallback)


@contextlib.contextmanager
def _temporary_file(content: bytes | memoryview, existing: str | None = None):
    """A file holding ``content``: ``existing`` when it already does, else a temporary copy."""
    if existing is not None:
        yield existing
        return
    with tempfile.NamedTemporaryFile(prefix="dealcast-ingest-", suffix=".csv", delete=False) as handle:
        name = handle.name
        handle.write(content)
    try:
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _sniff_delimiter(head: str) -> str:
    """The delimiter that splits the top of the file into the most rows of one width > 1."""
    best, best_score = ",", -1
    for delimiter in DELIMITERS:
        widths = Counter(len(cells) for cells, _ in _head_records(head, delimiter) if any(cells))
        if not widths:
            continue
        width, count = max(widths.items(), key=lambda item: (item[1], item[0]))
        score = count if width > 1 else 0
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _head_records(head: str, delimiter: str) -> list[tuple[list[str], int]]:
    """The first complete records of ``head`` with the number of lines up to each one's end."""
    reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter, quotechar='"')
    records: list[tuple[list[str], int]] = []
    with contextlib.suppress(csv.Error):
        for cells in reader:
            records.append(([cell.strip() for cell in cells], reader.line_num))
            if len(records) >= HEAD_RECORDS:
                break
    if len(records) > 1 and len(head) >= HEAD_BYTES:
        records.pop()  # may be cut short by the end of the sample
    return records
