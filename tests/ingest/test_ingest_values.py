"""Values: dates decided per column, numbers in every common dress, statuses, currencies."""

from __future__ import annotations

import datetime as dt

import pytest

from core.currency import RateTable
from core.ingest import parse_export
from tests.ingest.exports import to_csv


def parse_column(header: str, values: list[str], **options):
    """Parse a generic file with one deal per value in column ``header``."""
    rows = [[str(i), f"Deal {i}", value] for i, value in enumerate(values, start=1)]
    return parse_export(to_csv(rows, ["deal_id", "title", header]), "values.csv", source="generic", **options)


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("values", "order", "expected"),
    [
        (["05/01/2026", "25/12/2025"], "day-first (D/M/Y)", ["2026-01-05", "2025-12-25"]),
        (["05/01/2026", "12/25/2025"], "month-first (M/D/Y)", ["2026-05-01", "2025-12-25"]),
        (["05-01-26", "25-12-99"], "day-first (D/M/Y)", ["2026-01-05", "1999-12-25"]),
        (["2026-01-05", "2026-01-06 13:45:10"], "ISO (YYYY-MM-DD)", ["2026-01-05", "2026-01-06"]),
        (["2026-01-05T08:00:00Z", "2023-11-15 20:09"], "ISO (YYYY-MM-DD)", ["2026-01-05", "2023-11-15"]),
        (["45000", "45001.75"], "Excel serial numbers", ["2023-03-15", "2023-03-16"]),
        (["5/1/2026 10:30", "25/1/2026 09:00"], "day-first (D/M/Y)", ["2026-01-05", "2026-01-25"]),
    ],
)
def test_parse_export_reads_a_date_column_in_one_order_decided_from_all_its_values(values, order, expected):
    parsed = parse_column("created_at", values)

    assert parsed.detection["date_orders"]["created_at"] == order
    assert parsed.deals["created_at"].tolist() == [day(text) for text in expected]
    assert parsed.rows_rejected == 0


def test_parse_export_reports_an_ambiguous_date_column_and_uses_the_chosen_order():
    values = ["05/01/2026", "06/02/2026"]

    by_default = parse_column("created_at", values)
    month_first = parse_column("created_at", values, date_order="mdy")

    assert by_default.detection["ambiguous_columns"] == ["created_at"]
    assert any("ambiguous" in warning for warning in by_default.warnings)
    assert by_default.deals["created_at"].tolist() == [day("2026-01-05"), day("2026-02-06")]
    assert month_first.deals["created_at"].tolist() == [day("2026-05-01"), day("2026-06-02")]


def test_parse_export_rejects_dates_that_contradict_the_column_order_naming_them():
    parsed = parse_column("created_at", ["25/12/2025", "26/12/2025", "12/31/2025"])

    assert "mixed" in parsed.detection["date_orders"]["created_at"]
    assert parsed.rejects["reason"].tolist() == ["row 4, column 'created_at': '12/31/2025' is not a date"]


def test_parse_export_rejects_an_unreadable_date_and_loads_the_rest():
    parsed = parse_column("expected_close", ["2026-02-30", "soon", "", "2026-03-01"])

    assert parsed.rejects["reason"].tolist() == [
        "row 2, column 'expected_close': '2026-02-30' is not a date",
        "row 3, column 'expected_close': 'soon' is not a date",
    ]
    assert parsed.deals["expected_close"].tolist() == [pd_nat(), day("2026-03-01")]


def pd_nat():
    import pandas as pd

    return pd.NaT


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("1234.5", 1234.5, "SAR"),
        ("1,234,567", 1234567.0, "SAR"),
        ("$1,234,567", 1234567.0, "USD"),
        ("7,000.00 BGN", 7000.0, "BGN"),
        ("SAR 5,000", 5000.0, "SAR"),
        ("0", 0.0, "SAR"),
        ("-1,200.50", -1200.5, "SAR"),
        ("(1,200.50)", -1200.5, "SAR"),
        ("€ 99.90", 99.9, "EUR"),
        ("11015.0", 11015.0, "SAR"),
        ("1 234.50", 1234.5, "SAR"),
    ],
)
def test_parse_export_reads_numbers_with_separators_symbols_and_codes(text, value, currency):
    parsed = parse_column("value", [text, "12.50"])

    assert parsed.deals["value"].tolist()[0] == value
    assert parsed.deals["currency"].tolist()[0] == currency


def test_parse_export_reads_decimal_commas_when_the_column_shows_them():
    parsed = parse_column("value", ["1.234,56", "7.000,00 BGN", "1.500", "12"])

    assert parsed.detection["decimal_marks"]["value"] == ","
    assert parsed.deals["value"].tolist() == [1234.56, 7000.0, 1500.0, 12.0]


def test_parse_export_treats_a_blank_value_as_missing_and_a_word_as_an_error():
    parsed = parse_column("value", ["", "abc", "  ", "100"])

    assert parsed.rejects["reason"].tolist() == ["row 3, column 'value': 'abc' is not a number"]
    assert parsed.deals["value"].isna().tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("source_values", "expected"),
    [
        (["75%", "10 %", ""], [0.75, 0.10, None]),
        (["75", "10", "0"], [0.75, 0.10, 0.0]),
        (["0.75", "0.1", "1"], [0.75, 0.1, 1.0]),
    ],
)
def test_parse_export_reads_probabilities_as_fractions(source_values, expected):
    parsed = parse_column("probability", source_values)

    got = [None if value != value else round(value, 6) for value in parsed.deals["probability"]]
    assert got == expected


def test_parse_export_reads_pipedrive_probabilities_as_percentages_and_rejects_out_of_range():
    data = to_csv(
        [["1", "One", "40"], ["2", "Two", "1"], ["3", "Three", "150"]],
        ["Deal - ID", "Deal - Title", "Deal - Probability"],
    )

    parsed = parse_export(data, "deals.csv")

    assert parsed.deals["probability"].tolist() == [0.4, 0.01]
    assert parsed.rejects["reason"].tolist() == [
        "row 4, column 'Deal - Probability': '150' is not a probability"
    ]


@pytest.mark.parametrize(
    ("status", "stage", "expected"),
    [
        ("Open", "Approved", "open"),
        ("WON", "Approved", "won"),
        ("lost", "x", "lost"),
        ("Deleted", "x", "deleted"),
        ("", "Closed Won", "won"),
        ("", "closedlost", "lost"),
        ("", "Approved", "open"),
    ],
)
def test_parse_export_maps_status_words_and_won_or_lost_stage_names(status, stage, expected):
    data = to_csv([["1", "One", status, stage]], ["deal_id", "title", "status", "stage"])

    parsed = parse_export(data, "deals.csv", source="generic")

    assert parsed.deals["status"].tolist() == [expected]


def test_parse_export_rejects_an_unknown_status_naming_the_choices():
    parsed = parse_column("status", ["Pending", "Open"])

    assert parsed.rejects["reason"].tolist() == [
        "row 2, column 'status': 'Pending' is not a status (Open, Won, Lost or Deleted)"
    ]


def test_parse_export_converts_to_the_base_currency_and_warns_about_unknown_currencies():
    data = to_csv(
        [
            ["1", "One", "100", "USD"],
            ["2", "Two", "100", "XYZ"],
            ["3", "Three", "100", "xyz"],
            ["4", "Four", "", ""],
        ],
        ["deal_id", "title", "value", "currency"],
    )

    parsed = parse_export(data, "deals.csv", source="generic", rates=RateTable(rates={"USD": 3.75}))

    assert parsed.deals["value_base"].tolist()[0] == 375.0
    assert parsed.deals["value_base"].isna().tolist() == [False, True, True, True]
    assert parsed.warnings[-1] == (
        "Currency 'XYZ' has no rate to SAR: value_base left empty on 2 row(s) (rows 3, 4). "
        "Add a rate for XYZ to convert them."
    )
    assert parsed.rows_rejected == 0
