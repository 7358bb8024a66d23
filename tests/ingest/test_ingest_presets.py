"""Presets: each CRM's export is recognised from its headers, with the evidence, and mapped."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import InputError
from core.ingest import ingest_bytes, parse_export
from core.ingest.detect import detect_source
from tests.ingest.exports import pipedrive_csv, pipedrive_row, to_csv, to_xlsx


def test_parse_export_reads_a_pipedrive_export_into_every_canonical_column():
    row = pipedrive_row(
        7,
        Value="12,500.50",
        Status="Won",
        Won_time="2026-02-03 11:00:00",
        Deal_closed_on="2026-02-03 11:00:00",
        Probability="80",
        Label="VIP",
    )

    parsed = parse_export(pipedrive_csv([row]), "deals.csv")

    assert parsed.source == "pipedrive"
    assert "Deal - Currency of Value" in parsed.detection["evidence"]
    deal = parsed.deals.iloc[0]
    assert (deal.deal_id, deal.title, deal.pipeline, deal.stage, deal.status) == (
        "7",
        "Fit-out 7",
        "Projects",
        "Approved",
        "won",
    )
    assert (deal.value, deal.currency, deal.value_base, deal.probability) == (12500.5, "SAR", 12500.5, 0.8)
    assert (deal.owner, deal.organization, deal.contact) == ("Sara Al-Qahtani", "Saudi Aramco", "Ahmed Saleh")
    assert deal.created_at == dt.datetime(2026, 1, 5)
    assert (deal.updated_at, deal.stage_changed_at) == (dt.datetime(2026, 2, 1), dt.datetime(2026, 1, 20))
    assert (deal.won_at, deal.closed_at, deal.expected_close) == (
        dt.datetime(2026, 2, 3),
        dt.datetime(2026, 2, 3),
        dt.datetime(2026, 3, 31),
    )
    assert json.loads(deal.extra) == {
        "Deal - Weighted value": "500",
        "Deal - Next activity date": "2026-02-10",
        "Deal - Last activity date": "2026-01-30",
        "Deal - Label": "VIP",
    }
    assert parsed.warnings == []
    assert parsed.as_of_guess == dt.date(2026, 2, 1)


def test_parse_export_reads_pipedrive_import_template_headers_and_custom_fields():
    headers = [
        "Deal - Title*",
        "Deal - Value",
        "Deal - Currency of value",
        "Deal - Stage (pipeline)",
        "Deal - Notes",
        "Deal - Invoice date",
        "Deal - Site readiness",
    ]
    data = to_csv([["Lobby", "5000", "usd", "Approved", "Call Ahmed", "2026-04-01", "Ready"]], headers)

    parsed = parse_export(data, "import.csv")

    assert parsed.source == "pipedrive"
    assert parsed.mapping["title"] == "Deal - Title*"
    deal = parsed.deals.iloc[0]
    assert (deal.deal_id, deal.currency, deal.value_base, deal.stage, deal.notes) == (
        "Lobby",
        "USD",
        18750.0,
        "Approved",
        "Call Ahmed",
    )
    assert deal.invoice_date == dt.datetime(2026, 4, 1)
    assert json.loads(deal.extra) == {"Deal - Site readiness": "Ready"}


def test_parse_export_reads_a_hubspot_export_with_quoted_fields_and_large_ids():
    headers = [
        "Record ID",
        "Deal Name",
        "Pipeline",
        "Deal Stage",
        "Amount",
        "Amount in company currency",
        "Close Date",
        "Create Date",
        "Deal owner",
        "Deal probability",
        'Date entered "Closed Won (Sales Pipeline)"',
    ]
    rows = [
        [
            "18446744073709551617",
            "Big",
            "Sales Pipeline",
            "closedwon",
            "11015.0",
            "11015.0",
            "2023-11-15 20:09",
            "2023-10-01 08:00",
            "Mona Aziz",
            "1.0",
            "2023-11-15 20:09",
        ],
        [
            "2",
            "Small",
            "Sales Pipeline",
            "Appointment Scheduled",
            "",
            "",
            "",
            "2023-10-02 09:00",
            "Mona Aziz",
            "0.2",
            "",
        ],
    ]

    parsed = parse_export(to_csv(rows, headers, quote_all=True), "hubspot.csv")

    assert parsed.source == "hubspot"
    assert parsed.detection["evidence"][:3] == ["Record ID", "Deal Name", "Deal Stage"]
    assert parsed.deals["deal_id"].tolist() == ["18446744073709551617", "2"]
    assert parsed.deals["status"].tolist() == ["won", "open"]
    assert parsed.deals["probability"].tolist() == [1.0, 0.2]
    assert parsed.deals["expected_close"].tolist()[0] == dt.datetime(2023, 11, 15)


def test_parse_export_reads_a_salesforce_report_with_dollar_amounts_and_percentages():
    headers = [
        "Opportunity Name",
        "Account Name",
        "Amount",
        "Close Date",
        "Stage",
        "Probability (%)",
        "Expected Revenue",
        "Created Date",
        "Opportunity Owner",
        "Forecast Category",
    ]
    rows = [
        [
            "Lobby",
            "Acme",
            "$1,234,567",
            "3/15/2026",
            "Closed Won",
            "100%",
            "$1,234,567",
            "1/2/2026",
            "Sam Reed",
            "Closed",
        ],
        [
            "Atrium",
            "Acme",
            "$12,000.50",
            "4/30/2026",
            "Negotiation",
            "75%",
            "$9,000.38",
            "1/20/2026",
            "Sam Reed",
            "Commit",
        ],
    ]
    data = to_csv(rows, headers) + b'"Total","","$1,246,567.50"\r\n\r\n"Grand Totals (2 records)"\r\n'

    parsed = parse_export(data, "opportunities.csv")

    assert parsed.source == "salesforce"
    assert parsed.deals[["deal_id", "value", "currency", "probability", "status"]].values.tolist() == [
        ["Lobby", 1234567.0, "USD", 1.0, "won"],
        ["Atrium", 12000.5, "USD", 0.75, "open"],
    ]
    assert parsed.detection["date_orders"]["Close Date"] == "month-first (M/D/Y)"
    assert parsed.rows_read == 2


def test_parse_export_reads_a_salesforce_xlsx_with_currency_column():
    rows = [
        ["Opportunity Pipeline"],
        ["As of today"],
        [],
        ["Opportunity Name", "Opportunity Currency", "Amount", "Close Date", "Stage", "Probability (%)"],
        ["Lobby", "EUR", 1000, dt.datetime(2026, 5, 1), "Proposal", 0.5],
    ]

    parsed = parse_export(to_xlsx(rows), "report.xlsx")

    assert parsed.deals[["title", "currency", "value_base", "probability"]].values.tolist() == [
        ["Lobby", "EUR", 4050.0, 0.5]
    ]


def test_parse_export_maps_a_generic_file_with_a_user_mapping():
    headers = ["Ref", "Project", "Amount (SAR)", "Phase", "Client", "Opened"]
    data = to_csv([["A-1", "Lobby", "1,000", "Approved", "Acme", "05/01/2026"]], headers)

    parsed = parse_export(
        data,
        "crm.csv",
        source="generic",
        mapping={
            "deal_id": "Ref",
            "title": "Project",
            "value": "Amount (SAR)",
            "stage": "Phase",
            "organization": "client",
            "created_at": "Opened",
        },
    )

    deal = parsed.deals.iloc[0]
    assert (deal.deal_id, deal.title, deal.value, deal.stage, deal.organization) == (
        "A-1",
        "Lobby",
        1000.0,
        "Approved",
        "Acme",
    )
    assert parsed.mapping["organization"] == "Client"
    assert json.loads(deal.extra) == {}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"title": "Nope"},
            "cannot map title to 'Nope': the file has no such column. Its columns are: Ref, Project.",
        ),
        ({"colour": "Ref"}, "cannot map 'colour': it is not a deal column"),
    ],
)
def test_parse_export_rejects_a_mapping_that_does_not_fit_the_file(mapping, message):
    data = to_csv([["A-1", "Lobby"]], ["Ref", "Project"])

    with pytest.raises(InputError) as error:
        parse_export(data, "crm.csv", source="generic", mapping=mapping)

    assert message in str(error.value)
    assert str(error.value).startswith("crm.csv: ")


def test_ingest_bytes_remembers_a_mapping_for_files_with_the_same_headers(store):
    headers = ["Ref", "Project", "Amount (SAR)"]
    first = to_csv([["A-1", "Lobby", "10"]], headers)
    second = to_csv([["A-2", "Atrium", "20"]], headers)

    ingest_bytes(
        store, first, "a.csv", mapping={"deal_id": "Ref", "title": "Project", "value": "Amount (SAR)"}
    )
    result = ingest_bytes(store, second, "b.csv")

    assert result.mapping == {"deal_id": "Ref", "title": "Project", "value": "Amount (SAR)"}
    assert store.load_deals(result.snapshot_id)[["deal_id", "value"]].values.tolist() == [["A-2", 20.0]]


@pytest.mark.parametrize(
    ("headers", "source"),
    [
        (["Deal - ID", "Deal - Title"], "pipedrive"),
        (["Record ID", "Deal Name", "Amount"], "hubspot"),
        (["Opportunity Name", "Account Name", "Amount"], "salesforce"),
        (["Name", "Amount", "Stage"], "generic"),
    ],
)
def test_detect_source_picks_the_preset_whose_headers_the_file_carries(headers, source):
    detection = detect_source(headers)

    assert detection.source == source
    assert (detection.evidence == []) == (source == "generic")
