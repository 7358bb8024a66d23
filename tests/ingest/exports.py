"""Fixture generators: small CRM exports built in code, one quirk at a time (no third-party data)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence

import openpyxl

PIPEDRIVE_HEADERS = (
    "Deal - ID",
    "Deal - Title",
    "Deal - Owner",
    "Deal - Value",
    "Deal - Currency of Value",
    "Deal - Weighted value",
    "Deal - Pipeline",
    "Deal - Stage",
    "Deal - Status",
    "Deal - Deal created",
    "Deal - Update time",
    "Deal - Last stage change",
    "Deal - Won time",
    "Deal - Lost time",
    "Deal - Deal closed on",
    "Deal - Expected close date",
    "Deal - Probability",
    "Deal - Organization",
    "Deal - Contact person",
    "Deal - Next activity date",
    "Deal - Last activity date",
    "Deal - Label",
)


def pipedrive_row(deal_id: int, **overrides: str) -> dict[str, str]:
    """One Pipedrive "Export deals" row with plausible values; ``overrides`` by header suffix
    (``Value="abc"`` sets ``Deal - Value``)."""
    row = {
        "Deal - ID": str(deal_id),
        "Deal - Title": f"Fit-out {deal_id}",
        "Deal - Owner": "Sara Al-Qahtani",
        "Deal - Value": "1000",
        "Deal - Currency of Value": "SAR",
        "Deal - Weighted value": "500",
        "Deal - Pipeline": "Projects",
        "Deal - Stage": "Approved",
        "Deal - Status": "Open",
        "Deal - Deal created": "2026-01-05 09:30:00",
        "Deal - Update time": "2026-02-01 10:00:00",
        "Deal - Last stage change": "2026-01-20 08:00:00",
        "Deal - Won time": "",
        "Deal - Lost time": "",
        "Deal - Deal closed on": "",
        "Deal - Expected close date": "2026-03-31",
        "Deal - Probability": "",
        "Deal - Organization": "Saudi Aramco",
        "Deal - Contact person": "Ahmed Saleh",
        "Deal - Next activity date": "2026-02-10",
        "Deal - Last activity date": "2026-01-30",
        "Deal - Label": "",
    }
    for key, value in overrides.items():
        row[f"Deal - {key.replace('_', ' ')}"] = value
    return row


def to_csv(
    rows: Sequence[dict[str, str]] | Sequence[Sequence[str]],
    headers: Sequence[str] | None = None,
    *,
    delimiter: str = ",",
    line_end: str = "\r\n",
    encoding: str = "utf-8",
    quote_all: bool = False,
) -> bytes:
    """Rows (dicts, or lists under ``headers``) as CSV bytes."""
    if rows and isinstance(rows[0], dict):
        headers = headers or list(rows[0])
        rows = [[row.get(h, "") for h in headers] for row in rows]  # type: ignore[union-attr]
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        lineterminator=line_end,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    if headers is not None:
        writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def pipedrive_csv(rows: Sequence[dict[str, str]], **options) -> bytes:
    return to_csv(rows, PIPEDRIVE_HEADERS, **options)


def to_xlsx(rows: Sequence[Sequence[object]], *, date1904: bool = False) -> bytes:
    """A one-sheet workbook with ``rows`` as they are (header rows included)."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    return _set_date1904(data) if date1904 else data


def _set_date1904(data: bytes) -> bytes:
    """Make sure the workbook declares the 1904 date system (openpyxl versions differ)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/workbook.xml" and b"date1904" not in content:
                content = re.sub(rb"<workbookPr([^>]*)/>", rb'<workbookPr\1 date1904="1"/>', content)
                if b"date1904" not in content:
                    content = content.replace(b"<sheets>", b'<workbookPr date1904="1"/><sheets>')
            target.writestr(item, content)
    return out.getvalue()
