"""Bad input at the edges: each gives one clear message (exit 2 from the CLI), the snapshots
already stored stay as they were, and no half-written snapshot appears."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from core.cli import EXIT_BAD_INPUT, main
from core.ingest import EmptyFileError, FileTooLargeError, UnreadableFileError, ingest_bytes
from core.ingest.cells import MAX_COLUMNS
from core.ingest.parse import MAX_ID_CHARS, MAX_TITLE_CHARS
from core.ingest.readers import MAX_XLSX_RATIO
from core.store import Store
from tests.ingest.exports import PIPEDRIVE_HEADERS, pipedrive_csv, pipedrive_row, to_csv, to_xlsx

MEGABYTE = 1024 * 1024


def workbook() -> bytes:
    return to_xlsx([list(PIPEDRIVE_HEADERS), list(pipedrive_row(1).values())])


def zip_bomb() -> bytes:
    """A real workbook plus one part of zeros that unpacks to far more than the file's size."""
    out = io.BytesIO()
    book = zipfile.ZipFile(io.BytesIO(workbook()))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for part in book.infolist():
            bomb.writestr(part, book.read(part))
        bomb.writestr("xl/media/padding.bin", bytes(20 * MEGABYTE))
    return out.getvalue()


def wide_csv(extra: int) -> bytes:
    """A Pipedrive export with ``extra`` custom columns (``Deal - Custom N``)."""
    headers = [*PIPEDRIVE_HEADERS, *(f"Deal - Custom {i}" for i in range(extra))]
    rows = [{**pipedrive_row(n), **{f"Deal - Custom {i}": f"v{i}" for i in range(extra)}} for n in (1, 2)]
    return to_csv(rows, headers)


@pytest.fixture
def stored(db_path):
    """A database file holding one snapshot; yields (path, that snapshot)."""
    with Store(db_path) as store:
        first = ingest_bytes(store, pipedrive_csv([pipedrive_row(1), pipedrive_row(2)]), "first.csv")
    return db_path, first


def assert_untouched(db_path: str, first) -> None:
    with Store(db_path) as store:
        assert [s.id for s in store.list_snapshots()] == [first.snapshot_id]
        assert len(store.load_deals(first.snapshot_id)) == first.rows_loaded
        counts = store.query_df(
            "SELECT (SELECT count(*) FROM deals) AS d, (SELECT count(*) FROM raw_files) AS r"
        )
        assert counts.iloc[0].tolist() == [first.rows_loaded, 1]


BAD_FILES = [
    ("empty.xlsx", b"", EmptyFileError, "empty.xlsx: the file is empty (0 bytes)."),
    ("cut.xlsx", workbook()[:1500], UnreadableFileError,
     "cut.xlsx: the XLSX (zip) file is damaged or cut short."),
    ("wide.csv", b"Deal - ID,Deal - Title," + b",".join(b"C%d" % i for i in range(10_000)) + b"\n1,One\n",
     FileTooLargeError,
     f"wide.csv: the header has 10,002 columns, more than the {MAX_COLUMNS:,} a deal export"),
    ("bomb.xlsx", zip_bomb(), FileTooLargeError, "bomb.xlsx: this XLSX of "),
]


@pytest.mark.parametrize(("name", "data", "error", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_one_clear_refusal_and_leaves_earlier_snapshots_intact(
    stored, tmp_path, capsys, monkeypatch, name, data, error, message
):
    db_path, first = stored
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: pytest.fail("the workbook was opened"))
    with Store(db_path) as store, pytest.raises(error) as raised:
        ingest_bytes(store, data, name)
    assert str(raised.value).startswith(message)
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["ingest", str(path), "--db", db_path]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert_untouched(db_path, first)


def test_zip_bomb_message_gives_both_sizes_and_the_reason():
    with Store() as store, pytest.raises(FileTooLargeError) as raised:
        ingest_bytes(store, zip_bomb(), "bomb.xlsx")
    assert "unpacks to 20.0 MB" in str(raised.value)
    assert f"{MAX_XLSX_RATIO} times its size" in str(raised.value) and "zip bomb" in str(raised.value)


def test_a_workbook_unpacking_past_the_upload_limit_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: pytest.fail("the workbook was opened"))
    data = workbook()
    with Store() as store, pytest.raises(FileTooLargeError, match="unpacks to"):
        ingest_bytes(store, data, "deals.xlsx", max_bytes=len(data) + 10)


def test_a_thousand_extra_columns_load_with_every_custom_field_kept(store):
    result = ingest_bytes(store, wide_csv(1_000), "wide.csv")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 2, 0)
    extra = store.query_df("SELECT extra FROM deals ORDER BY deal_id")["extra"][0]
    assert '"Deal - Custom 999":"v999"' in extra


def test_a_one_megabyte_cell_loads_in_notes_and_is_rejected_as_an_id_or_title(store):
    big = "x" * MEGABYTE
    too_long_id = "9" * (MAX_ID_CHARS + 1)
    rows = [pipedrive_row(1, Label=big), pipedrive_row(2, Title=big), pipedrive_row(3, ID=too_long_id),
            pipedrive_row(4)]
    result = ingest_bytes(store, pipedrive_csv(rows), "big-cell.csv")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 2, 2)
    assert [r.reason for r in result.rejects] == [
        f"row 3: the title is 1,048,576 characters long, over the {MAX_TITLE_CHARS:,} allowed",
        f"row 4: the deal id is {MAX_ID_CHARS + 1} characters long, over the {MAX_ID_CHARS} allowed",
    ]
    assert store.query_df("SELECT max(length(extra)) AS n FROM deals")["n"][0] > MEGABYTE
