"""core.export: cells a spreadsheet could run are neutralised, and a line break in a cell stays in it."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pandas as pd
import pytest

from core.errors import InputError
from core.export import FORMULA_START, neutralise_formulas, table_bytes, write_table

#: Text that a spreadsheet would run, or that would start a new row in an unquoted CSV.
HOSTILE = ["=1+1", "+966", "-x", "@SUM(1+1)", "\t=1", "\r=1", "  =1+1", "\n@SUM(1+1)", " \r\n-2+3",
           "Fit-out\r@SUM(1+1)"]
NUMBER = re.compile(r"^-\d+(\.\d+)?$")


def formula_cells(cells: list[str]) -> list[str]:
    """Cells a spreadsheet would run: text starting a formula (a negative number is a number)."""
    return [cell for cell in cells if FORMULA_START.match(cell) and not NUMBER.match(cell)]


def assert_safe_csv(data: bytes, hostile: list[str] = HOSTILE) -> list[list[str]]:
    """Every field of ``data`` is quoted, no cell can start a formula, and each hostile text is
    one cell (quoted when it starts a formula); returns the rows."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not formula_cells(cells)
    for value in hostile:
        assert value in cells or "'" + value in cells, value
        assert '"' + ("'" if FORMULA_START.match(value) else "") + value + '"' in text, value
    return rows


def assert_safe_xlsx(data: bytes, hostile: list[str] = HOSTILE) -> None:
    """No cell of the workbook ``data`` can start a formula and each hostile text is in one cell
    (a workbook stores a line break as LF)."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = [cell for row in sheet.iter_rows(values_only=True) for cell in row if isinstance(cell, str)]
    assert not formula_cells(cells)
    for value in (v.replace("\r\n", "\n").replace("\r", "\n") for v in hostile):
        assert value in cells or "'" + value in cells, repr(value)


def test_neutralise_formulas_quotes_text_whose_first_visible_character_starts_a_formula():
    frame = pd.DataFrame({"t": [*HOSTILE, "fine", "a-b"], "n": range(len(HOSTILE) + 2)})
    out = neutralise_formulas(frame)
    expected = ["'" + v for v in HOSTILE[:-1]] + ["Fit-out\r@SUM(1+1)", "fine", "a-b"]
    assert out["t"].tolist() == expected
    assert out["n"].tolist() == list(range(len(HOSTILE) + 2))


def test_csv_export_quotes_every_field_so_a_carriage_return_stays_inside_its_cell():
    frame = pd.DataFrame({"Title": HOSTILE, "Value": [1.5] * len(HOSTILE)})
    rows = assert_safe_csv(table_bytes(frame, "csv"))
    assert len(rows) == len(HOSTILE) + 1
    assert ["Fit-out\r@SUM(1+1)", "1.5"] in rows


def test_xlsx_export_writes_hostile_text_as_text():
    assert_safe_xlsx(table_bytes(pd.DataFrame({"Title": HOSTILE}), "xlsx"))


def test_write_table_to_a_missing_folder_is_one_clear_input_error(tmp_path):
    with pytest.raises(InputError, match=r"cannot write .*missing/x\.csv: No such file or directory"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "missing" / "x.csv")
    with pytest.raises(InputError, match=r"choose a \.csv or \.xlsx"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.json")
