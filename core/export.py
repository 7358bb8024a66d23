"""Tables out to CSV or XLSX, safe to open in a spreadsheet.

A text cell whose first character after any leading whitespace or line break is ``=``,
``+``, ``-`` or ``@``, or that starts with a tab or carriage return (some spreadsheets skip
those before a formula), is prefixed with a single quote, so a deal title such as
``=HYPERLINK(...)`` from a CRM export is shown as text, not run. Every CSV field is quoted,
so a line break inside a cell (``Fit-out\\r@SUM(1+1)``) cannot start a new row either.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from core.errors import InputError

#: A cell a spreadsheet could read as a formula.
FORMULA_START = re.compile(r"^(?:[\t\r]|\s*[=+\-@])")
KINDS = ("csv", "xlsx")
MIME_TYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def neutralise_cell(value: object) -> object:
    """``value`` with a quote in front when it is text a spreadsheet could run as a formula."""
    if isinstance(value, str) and FORMULA_START.match(value):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a formula; numbers and dates are kept."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        out[name] = column.map(neutralise_cell)
    return out


def table_bytes(frame: pd.DataFrame, kind: str) -> bytes:
    """``frame`` as the bytes of a CSV (every field quoted) or XLSX file, formulas neutralised."""
    safe = neutralise_formulas(frame)
    if kind == "csv":
        return safe.to_csv(index=False, quoting=csv.QUOTE_ALL).encode("utf-8")
    if kind == "xlsx":
        buffer = io.BytesIO()
        safe.to_excel(buffer, index=False, engine="openpyxl")
        return buffer.getvalue()
    raise InputError(f"choose a .csv or .xlsx file to write, not {kind!r}.")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV or XLSX (by the file's suffix), formulas neutralised; a path that
    cannot be written raises InputError naming it."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise InputError(f"{path}: choose a .csv or .xlsx file to write.")
    content = table_bytes(frame, kind)
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
