"""Invoice lists load like deal exports: every row loaded or rejected with a reason, one transaction."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest

from core.errors import InputError
from core.ingest import MissingColumnsError
from core.receivables import ingest_invoice_bytes, load_invoices

HEADER = "Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency,Paid Date,Disputed,Deal ID,Notes\n"


def csv(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode("utf-8")


def ingest(store, data: bytes, name: str = "ar.csv", **options):
    result = ingest_invoice_bytes(store, data, name, **options)
    return result, load_invoices(store, result.snapshot_id)


def test_invoice_list_loads_us_dates_amounts_and_keeps_leading_zeros(store):
    result, frame = ingest(
        store,
        csv(
            '00042,Saudi Aramco Co.,1/15/2026,2/14/2026,"12,500.00",SAR,2/20/2026,No,1001,first',
            "00043,SABIC Ltd,1/20/2026,2/19/2026,$1000,,,Yes,,",
        ),
    )
    assert (result.source, result.rows_read, result.rows_loaded, result.rows_rejected) == (
        "invoice_list",
        2,
        2,
        0,
    )
    assert result.as_of == dt.date(2026, 2, 20)  # the newest invoice or paid date
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["invoice_id"] == "00042" and first["amount"] == 12500.0
    assert first["invoice_date"] == dt.datetime(2026, 1, 15) and first["paid_date"] == dt.datetime(
        2026, 2, 20
    )
    assert first["deal_id"] == "1001" and '"Notes":"first"' in first["extra"]
    assert (second["currency"], second["amount_base"], bool(second["disputed"])) == ("USD", 3750.0, True)
    assert result.detection["date_orders"]["Invoice Date"] == "month-first (M/D/Y)"


def test_unreadable_values_are_rejected_naming_row_column_value_and_reason(store):
    result, frame = ingest(
        store,
        csv(
            "1,A,TBD,,100,SAR,,,,",
            "2,A,1/2/2026,,lots,SAR,,,,",
            "3,A,1/2/2026,,100,SAR,,maybe,,",
            "4,A,,,100,SAR,,,,",
            "5,A,1/2/2026,,100,SAR,,,,",
        ),
    )
    assert result.rows_read == result.rows_loaded + result.rows_rejected == 5
    assert [r.reason for r in result.rejects] == [
        "row 2, column 'Invoice Date': 'TBD' is not a date",
        "row 3, column 'Amount': 'lots' is not a number",
        "row 4, column 'Disputed': 'maybe' is not yes or no (yes/no, true/false, 1/0)",
        "row 5, column 'Invoice Date': no invoice date",
    ]
    assert frame["invoice_id"].tolist() == ["5"]
    assert store.load_rejects(result.snapshot_id)["raw"].tolist()[0] == "1,A,TBD,,100,SAR,,,,"


def test_duplicated_invoice_numbers_keep_the_last_and_reject_the_others(store):
    result, frame = ingest(store, csv("7,A,1/2/2026,,100,SAR,,,,", "7,A,1/2/2026,,250,SAR,,,,"))
    assert frame["amount"].tolist() == [250.0]
    assert result.rejects[0].reason == (
        "row 2, column 'Invoice Number': duplicate invoice number '7', row 3 has the same number and is "
        "kept (the last one wins)"
    )


def test_odd_rows_load_and_are_named_in_warnings(store):
    result, frame = ingest(
        store,
        csv(
            "1,A,2/10/2026,3/10/2026,-500,SAR,,,,credit note",
            "2,A,2/10/2026,1/10/2026,100,SAR,2/1/2026,,,paid before issued",
            "3,,2/10/2026,3/10/2026,100,XYZ,3/20/2026,,,paid after as-of",
        ),
        as_of="2026-03-01",
    )
    assert result.rows_loaded == 3 and result.rows_rejected == 0
    text = "\n".join(result.warnings)
    assert "with negative amounts (credit notes): kept, counted as negative cash (rows 2)" in text
    assert "paid before their invoice date" in text and "due before their invoice date" in text
    assert "paid after the as-of date 2026-03-01: treated as open at 2026-03-01" in text
    assert "without a customer" in text and "in a currency without a rate to SAR" in text
    assert frame["amount"].tolist() == [-500.0, 100.0, 100.0]


def test_the_same_bytes_twice_are_reported_as_already_loaded(store):
    data = csv("1,A,1/2/2026,,100,SAR,,,,")
    first, _ = ingest(store, data)
    again = ingest_invoice_bytes(store, data, "copy.csv")
    assert again.duplicate_of == first.snapshot_id
    assert len(store.list_snapshots(kind="invoices")) == 1


def test_invoice_snapshots_are_apart_from_deal_snapshots_and_delete_with_their_rows(store):
    result, _ = ingest(store, csv("1,A,1/2/2026,,100,SAR,,,,"))
    assert store.list_snapshots() == [] and len(store.list_snapshots(kind="invoices")) == 1
    store.delete_snapshot(result.snapshot_id)
    assert store.query_df("SELECT count(*) AS n FROM invoices")["n"][0] == 0


def test_generic_preset_takes_a_mapping_for_other_headers(store):
    data = b"Doc No;Client;Date;Gross;Settled\nA-01;Acme;25/02/2026;1.234,50;\n"
    result, frame = ingest(
        store,
        data,
        source="generic",
        mapping={"invoice_id": "Doc No", "amount": "Gross", "paid_date": "Settled"},
    )
    assert result.rows_loaded == 1
    row = frame.iloc[0]
    assert (row["invoice_id"], row["customer"], row["amount"]) == ("A-01", "Acme", 1234.5)
    assert row["invoice_date"] == dt.datetime(2026, 2, 25)


def test_mapping_to_a_column_that_is_not_an_invoice_column_is_an_input_error(store):
    with pytest.raises(InputError, match="cannot map 'stage': it is not an invoice column"):
        ingest_invoice_bytes(store, csv("1,A,1/2/2026,,100,SAR,,,,"), "ar.csv", mapping={"stage": "Customer"})


def test_a_file_without_the_required_columns_is_refused_before_any_write(store):
    with pytest.raises(MissingColumnsError, match="no invoice_id, amount column found") as error:
        ingest_invoice_bytes(store, b"Client,Date\nAcme,1/2/2026\n", "ar.csv")
    assert error.value.missing == ["invoice_id", "amount"]
    assert store.list_snapshots(kind="invoices") == []


def test_xlsx_invoice_lists_load_with_real_dates(store):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Invoice Number", "Customer", "Invoice Date", "Due Date", "Amount"])
    sheet.append(["0007", "Acme", dt.datetime(2026, 1, 5), dt.datetime(2026, 2, 4), 1500])
    buffer = io.BytesIO()
    book.save(buffer)
    result, frame = ingest(store, buffer.getvalue(), "ar.xlsx")
    assert result.rows_loaded == 1
    assert frame.iloc[0]["invoice_id"] == "0007" and frame.iloc[0]["due_date"] == dt.datetime(2026, 2, 4)
