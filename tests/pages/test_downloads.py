"""Every CSV/XLSX download of the pages is safe to open: formula cells neutralised, CSV fields quoted.

Each test puts hostile text (``HOSTILE``: formulas, formulas after whitespace or a line break,
and ``Fit-out\\r@SUM(1+1)``, which an unquoted CSV splits into a new row) where a download
carries it, clicks the download as a user would, and checks the file.
"""

from __future__ import annotations

import io

import pandas as pd

from core.receivables import ingest_invoice_bytes
from tests.cashflow.helpers import AS_OF, deals, save
from tests.ingest.exports import pipedrive_csv, pipedrive_row
from tests.test_export import HOSTILE, assert_safe_csv, assert_safe_xlsx


def assert_safe_downloads(at, downloaded, key: str, hostile: list[str] = HOSTILE) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert_safe_csv(downloaded(at, f"{key}_csv"), hostile)
    assert_safe_xlsx(downloaded(at, f"{key}_xlsx"), hostile)


def test_forecast_deal_downloads_neutralise_hostile_titles(empty_store, open_page, downloaded):
    save(empty_store, deals(*({"stage": "Approved", "title": title} for title in HOSTILE)), AS_OF)
    assert_safe_downloads(open_page("forecast"), downloaded, "download")


def test_upload_rejected_rows_downloads_neutralise_the_raw_rows(empty_store, open_page, downloaded):
    # Each hostile text is a deal id, so the rejected row's raw text starts with it.
    rows = [pipedrive_row(i + 1, ID=text, Value="not a number") for i, text in enumerate(HOSTILE)]
    at = open_page("upload")
    at.file_uploader(key="upload").upload("deals.csv", pipedrive_csv([pipedrive_row(100), *rows]), "text/csv")
    at.run()
    for key in ("download_preview_rejects", "download_rejects"):
        if key == "download_rejects":
            at.button(key="save_snapshot").click().run()
            assert len(empty_store.load_rejects(empty_store.list_snapshots()[-1].id)) == len(HOSTILE)
            at = open_page("upload")
        assert_safe_downloads(at, downloaded, key, [])
        table = pd.read_csv(io.BytesIO(downloaded(at, f"{key}_csv")))
        assert len(table) == len(HOSTILE)
        assert table["raw"].str.startswith("'=1+1").any()


def test_receivables_download_neutralises_hostile_customers(empty_store, open_page, downloaded):
    lines = ["Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency"]
    lines += [f'{i},"{name}",2026-02-02,2026-03-04,100.00,SAR' for i, name in enumerate(HOSTILE)]
    ingest_invoice_bytes(empty_store, "\n".join(lines).encode("utf-8"), "invoices.csv")
    kept = [text.strip(" ") for text in HOSTILE]  # ingest trims spaces off the names
    assert_safe_downloads(open_page("receivables"), downloaded, "download_receivables", kept)
