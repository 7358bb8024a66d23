"""Tables out to CSV or XLSX, with cells that a spreadsheet would run as formulas neutralised.

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, which some
spreadsheets skip before one of those) is prefixed with a single quote, so a deal title
such as ``=HYPERLINK(...)`` from a CRM export is shown as text, not executed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.errors import InputError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a formula; numbers and dates are kept."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        text = column.map(
            lambda value: (
                value
                if not isinstance(value, str)
                else ("'" + value if value.startswith(FORMULA_STARTS) else value)
            )
        )
        out[name] = text
    return out


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV or XLSX (by the file's suffix), formulas neutralised."""
    path = Path(path)
    safe = neutralise_formulas(frame)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        safe.to_csv(path, index=False)
    elif suffix == ".xlsx":
        safe.to_excel(path, index=False, engine="openpyxl")
    else:
        raise InputError(f"{path}: choose a .csv or .xlsx file to write.")
    return path
