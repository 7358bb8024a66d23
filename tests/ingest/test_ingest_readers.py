"""Reading the bytes: encodings, delimiters, line ends, header rows, blank, total and footer rows."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.ingest import parse_export
from tests.ingest.exports import pipedrive_csv, pipedrive_row, to_csv, to_xlsx


def titles(parsed) -> list[str]:
    return parsed.deals["title"].tolist()


@pytest.mark.parametrize(
    ("encoding", "prefix", "detected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("cp1252", b"", "cp1252"),
        ("utf-16", b"", "utf-16"),
    ],
)
def test_parse_export_reads_each_encoding_into_the_same_text(encoding, prefix, detected):
    data = prefix + pipedrive_csv([pipedrive_row(1, Title="Café Olé – Straße")], encoding=encoding)

    parsed = parse_export(data, "deals.csv")

    assert titles(parsed) == ["Café Olé – Straße"]
    assert parsed.detection["encoding"] == detected
    assert parsed.detection["headers"][0] == "Deal - ID"


@pytest.mark.parametrize(
    ("organization", "padding"),
    [("Acme", " "), ("Acme Café", " "), ("Acme Café", "\u00a0"), ("Acme Café", "\u3000")],
    ids=["ascii-file", "utf8-file", "no-break-space", "ideographic-space"],
)
def test_parse_export_trims_cells_and_reads_a_cell_of_spaces_as_blank(organization, padding):
    data = pipedrive_csv([
        pipedrive_row(1, Title=f"{padding}padded{padding}", Organization=organization, Label=" "),
        pipedrive_row(2, Title="plain", Organization=f"{padding}{organization}", Label=f"{padding}Hot"),
    ])

    parsed = parse_export(data, "deals.csv")

    assert titles(parsed) == ["padded", "plain"]
    assert parsed.deals["organization"].tolist() == [organization, organization]
    assert [json.loads(extra)["Deal - Label"] for extra in parsed.deals["extra"]] == [None, "Hot"]


def test_parse_export_reads_latin1_bytes_cp1252_leaves_undefined_without_crashing():
    data = b"Deal - ID,Deal - Title\r\n1,Caf\xe9 \x81\x8d\r\n"

    parsed = parse_export(data, "deals.csv")

    assert titles(parsed) == ["Café \x81\x8d"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_parse_export_detects_the_delimiter_and_line_end(delimiter, line_end):
    data = pipedrive_csv(
        [pipedrive_row(1), pipedrive_row(2, Title="Two; with, both")], delimiter=delimiter, line_end=line_end
    )

    parsed = parse_export(data, "deals.csv")

    assert parsed.detection["delimiter"] == delimiter
    assert titles(parsed) == ["Fit-out 1", "Two; with, both"]
    assert parsed.rows_read == 2


def test_parse_export_skips_blank_rows_and_counts_them_in_a_warning():
    data = pipedrive_csv([pipedrive_row(1), {}, pipedrive_row(2)]) + b"\r\n,,,\r\n"

    parsed = parse_export(data, "deals.csv")

    assert (parsed.rows_read, parsed.rows_loaded) == (2, 2)
    assert "2 blank row(s) skipped." in parsed.warnings


def test_parse_export_keeps_quoted_line_breaks_alongside_short_rows():
    headers = ["Deal - ID", "Deal - Title", "Deal - Notes"]
    data = to_csv([["1", "One", "first line\nsecond line"], ["2", "Two"]], headers)

    parsed = parse_export(data, "deals.csv")

    assert parsed.deals["notes"].tolist()[0] == "first line\nsecond line"
    assert parsed.rows_loaded == 2


def test_parse_export_rejects_a_row_with_more_fields_than_the_header():
    data = b"Deal - ID,Deal - Title\n1,One\n2,Two,unexpected\n"

    parsed = parse_export(data, "deals.csv")

    assert parsed.rejects["reason"].tolist() == ["row 3 has more fields than the 2 columns of the header"]
    assert titles(parsed) == ["One"]


def test_parse_export_names_duplicated_and_blank_headers_and_keeps_them_in_extra():
    data = b"Deal - ID,Deal - Title,Region,Region,\n1,One,North,South,x\n"

    parsed = parse_export(data, "deals.csv")

    assert parsed.detection["headers"] == ["Deal - ID", "Deal - Title", "Region", "Region (2)", "Column 5"]
    assert json.loads(parsed.deals["extra"][0]) == {"Region": "North", "Region (2)": "South", "Column 5": "x"}


def test_parse_export_skips_salesforce_total_rows_and_footer_lines():
    data = (
        b'"Opportunity Name","Account Name","Amount","Stage"\r\n'
        b'"Total Renovation","Acme","$100","Prospecting"\r\n'
        b'"Lobby","Acme","$200","Closed Won"\r\n'
        b'"Total","","$300",""\r\n'
        b'\r\n"Grand Totals (2 records)"\r\n\r\n'
        b'"Confidential Information - Do Not Distribute"\r\n'
        b'"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\r\n'
    )

    parsed = parse_export(data, "report.csv")

    assert titles(parsed) == ["Total Renovation", "Lobby"]
    assert parsed.rows_read == 2
    assert parsed.detection["summary_rows"] == [
        "row 4: Total",
        "row 5: Grand Totals (2 records)",
        "row 6: Confidential Information - Do Not Distribute",
        "row 7: Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.",
    ]


def test_parse_export_finds_the_header_below_title_rows_of_a_formatted_xlsx_report():
    data = to_xlsx(
        [
            ["Opportunities by Stage"],
            ["Filtered By: Close Date equals This Year"],
            [],
            ["Opportunity Name", "Account Name", "Amount", "Close Date", "Stage"],
            ["Lobby", "Acme", 1200.5, dt.datetime(2026, 3, 15), "Negotiation"],
            ["Total", None, 1200.5, None, None],
        ]
    )

    parsed = parse_export(data, "report.xlsx")

    assert parsed.detection["kind"] == "xlsx"
    assert parsed.detection["header_row"] == 4
    assert parsed.source == "salesforce"
    assert parsed.deals[["title", "value"]].values.tolist() == [["Lobby", 1200.5]]
    assert parsed.deals["expected_close"].tolist() == [dt.datetime(2026, 3, 15)]


def test_parse_export_reads_excel_serial_dates_in_the_1904_system():
    rows = [["Deal - ID", "Deal - Title", "Deal - Deal created"], [1, "One", 45000]]

    parsed_1900 = parse_export(to_xlsx(rows), "a.xlsx")
    parsed_1904 = parse_export(to_xlsx(rows, date1904=True), "b.xlsx")

    assert parsed_1900.deals["created_at"].tolist() == [dt.datetime(2023, 3, 15)]
    assert parsed_1904.detection["date_system"] == 1904
    assert parsed_1904.deals["created_at"].tolist() == [dt.datetime(2027, 3, 16)]


def test_parse_export_reads_xlsx_integral_ids_without_a_decimal_point():
    data = to_xlsx([["Deal - ID", "Deal - Title", "Deal - Value"], [42, "One", 1500]])

    parsed = parse_export(data, "deals.xlsx")

    assert parsed.deals[["deal_id", "value"]].values.tolist() == [["42", 1500.0]]


def test_parse_export_falls_back_to_cp1252_when_only_the_end_is_not_utf8():
    rows = [pipedrive_row(i) for i in range(1, 4000)] + [pipedrive_row(4000, Title="Caf\xe9")]
    data = pipedrive_csv(rows, encoding="cp1252")

    parsed = parse_export(data, "deals.csv")

    assert parsed.detection["encoding"] == "cp1252"
    assert parsed.deals["title"].tolist()[-1] == "Café"
