"""write_history: CSV and XLSX files that hold exactly the export's cells, the same bytes every run."""

from __future__ import annotations

import datetime as dt
import io
import time
from types import SimpleNamespace

import openpyxl.writer.excel
import pandas as pd
import pytest

from core.errors import InputError
from core.sample import generate_history, write_history
from core.sample.files import csv_bytes, xlsx_bytes


@pytest.fixture(scope="module")
def small_history():
    return generate_history(deals=120, snapshots=3, messy=0.2)


def test_write_history_same_seed_writes_the_same_bytes(tmp_path, small_history):
    again = generate_history(deals=120, snapshots=3, messy=0.2)
    first = write_history(small_history, tmp_path / "a", formats=("csv", "xlsx"))
    second = write_history(again, tmp_path / "b", formats=("csv", "xlsx"))
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_write_history_different_seed_writes_different_files(small_history):
    other = generate_history(deals=120, snapshots=3, messy=0.2, seed=8)
    for mine, theirs in zip(small_history, other, strict=True):
        assert csv_bytes(mine) != csv_bytes(theirs)
        assert xlsx_bytes(mine) != xlsx_bytes(theirs)


def test_write_history_names_files_by_as_of_in_snapshot_order(tmp_path, small_history):
    paths = write_history(small_history, tmp_path / "new" / "dir", formats=("xlsx", "csv"))
    assert [p.name for p in paths] == [
        "pipedrive_deals_2026-09-07.xlsx", "pipedrive_deals_2026-09-07.csv",
        "pipedrive_deals_2026-09-14.xlsx", "pipedrive_deals_2026-09-14.csv",
        "pipedrive_deals_2026-09-21.xlsx", "pipedrive_deals_2026-09-21.csv",
    ]
    assert all(p.parent == tmp_path / "new" / "dir" for p in paths)


def test_csv_bytes_read_back_as_the_export_cells(small_history):
    for snapshot in small_history:
        back = pd.read_csv(io.BytesIO(csv_bytes(snapshot)), dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(back, snapshot.export, check_dtype=False)


def test_xlsx_bytes_hold_the_export_cells_with_numbers_as_numbers(small_history):
    snapshot = small_history[-1]
    back = pd.read_excel(io.BytesIO(xlsx_bytes(snapshot)), engine="calamine", dtype=object)
    export = snapshot.export
    assert list(back.columns) == list(export.columns)
    for header in export.columns:
        cells = back[header]
        if header in ("Deal - ID", "Deal - Value", "Deal - Weighted value", "Deal - Probability"):
            plain = export[header].str.fullmatch(r"-?\d+(\.\d+)?")
            assert (cells[plain].astype(float) == export.loc[plain, header].astype(float)).all(), header
            assert (cells[~plain].fillna("") == export.loc[~plain, header]).all(), header
        else:
            assert (cells.fillna("") == export[header]).all(), header


def test_xlsx_bytes_do_not_depend_on_the_clock(small_history, monkeypatch):
    before = xlsx_bytes(small_history[0])

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2031, 1, 1, 12, 0, tzinfo=tz)

    # openpyxl stamps datetime.now() into the properties; zip entries take time.localtime()
    later = SimpleNamespace(datetime=Later, timezone=dt.timezone)
    monkeypatch.setattr(openpyxl.writer.excel, "datetime", later)
    monkeypatch.setattr(time, "localtime", lambda *_: time.struct_time((2031, 1, 1, 12, 0, 0, 2, 1, 0)))
    assert xlsx_bytes(small_history[0]) == before


@pytest.mark.parametrize("formats", [("pdf",), (), ("csv", "json")])
def test_write_history_rejects_unknown_formats(tmp_path, small_history, formats):
    with pytest.raises(InputError, match="formats must be among csv, xlsx"):
        write_history(small_history, tmp_path, formats=formats)
    assert not list(tmp_path.iterdir())
