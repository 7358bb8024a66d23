"""Randomised export files for fuzzing ingest: every quirk a CRM export or a user can throw at it.

    name, data = fuzz_file(seed)           # one file, the same bytes for the same seed
    outcome = ingest_outcome(name, data)   # "loaded", "refused: <Error>" or "crash: ..."

``bench/fuzz_ingest.py`` runs thousands of them and counts outcomes; the test suite runs a
seeded slice. A file varies its encoding (UTF-8, UTF-8 with BOM, UTF-16, cp1252, cp1256),
delimiter, quoting, line ends, title rows, header names (Pipedrive, HubSpot, Salesforce or
generic; duplicated or blank), ragged rows, dates in many formats, numbers with currency
signs and separators, formulas, HTML and very long text in cells; a few are empty, binary
junk, or XLSX workbooks with several sheets and merged cells.

Ingest must never crash on one: it refuses the file with an ``IngestError`` (CLI exit 2, the
reason on stderr), or reads it so that rows read = loaded + rejected and every rejected row
has its reason. ``ingest_outcome`` checks exactly that.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import traceback

HEADER_SETS = (
    ("Deal - ID", "Deal - Title", "Deal - Value", "Deal - Currency of Value", "Deal - Stage",
     "Deal - Pipeline", "Deal - Status", "Deal - Deal created", "Deal - Expected close date",
     "Deal - Probability", "Deal - Owner", "Deal - Won time", "Deal - Label"),
    ("Record ID", "Deal Name", "Pipeline", "Deal Stage", "Amount", "Close Date", "Create Date", "Deal owner",
     "Deal probability", "Amount in company currency"),
    ("Opportunity Name", "Account Name", "Amount", "Close Date", "Stage", "Probability (%)", "Created Date",
     "Opportunity Owner", "Opportunity Currency", "Forecast Category"),
    ("id", "title", "value", "currency", "stage", "status", "created", "expected close", "notes"),
    ("Name", "Colour", "Size"),
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "cp1256")
DELIMITERS = (",", ";", "\t", "|")
TEXTS = (
    "Fit-out Riyadh", "=HYPERLINK(\"http://x\")", "+966 55", "-minus", "@SUM(1+1)", "Fit-out\r@SUM(1+1)",
    "<b>bold</b><script>alert(1)</script>", "![x](http://host/p.png?leak=1)", "مشروع الرياض", "Café Zürich",
    "Ünïcödé ☃", "line\nbreak", 'quote " inside', "", "   ", "Total", "Grand Totals (5 records)", "N/A",
)
NUMBERS = (
    "1000", "1,234.56", "1.234,56", "$1,234,567", "SAR 7,000", "7,000.00 BGN", "€ 99", "12%", "-5", "0", "",
    "abc", "1e3", "(200)", "١٢٣", "9" * 30,
)


def _dates(rng: random.Random) -> str:
    day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(3000))
    return rng.choice((
        day.isoformat(), f"{day.month}/{day.day}/{day.year}", f"{day.day}/{day.month}/{day.year}",
        day.strftime("%d-%m-%y"), f"{day.isoformat()} 10:{rng.randrange(60):02d}:00",
        str((day - dt.date(1899, 12, 30)).days),
        day.strftime("%d.%m.%Y"), day.strftime("%B %d, %Y"), "2026-13-45", "yesterday", "",
    ))


def _cell(rng: random.Random, header: str) -> str:
    low = header.lower()
    if any(word in low for word in ("date", "time", "created", "close")):
        return _dates(rng)
    if any(word in low for word in ("value", "amount", "probability")):
        return rng.choice(NUMBERS)
    if "id" in low.split() or low.endswith(" id") or low == "id":
        huge = str(10**20 + rng.randrange(9))  # HubSpot ids overflow int64
        return rng.choice((str(rng.randrange(10**6)), f"D-{rng.randrange(99)}", "", huge))
    text = rng.choice(TEXTS)
    if rng.random() < 0.02:
        text = text + "x" * rng.choice((5_000, 70_000))
    return text


def _rows(rng: random.Random) -> list[list[str]]:
    """Header and data rows (title rows above, ragged rows, duplicate and blank header names)."""
    headers = list(rng.choice(HEADER_SETS))
    rng.shuffle(headers)
    headers = headers[: rng.randint(1, len(headers))]
    if rng.random() < 0.2:
        headers.append(rng.choice(headers))
    if rng.random() < 0.1:
        headers.insert(rng.randrange(len(headers) + 1), "")
    rows = [[_cell(rng, h) for h in headers] for _ in range(rng.randint(0, 25))]
    for row in rows:
        if rng.random() < 0.1:
            del row[rng.randrange(len(row)) :]
        elif rng.random() < 0.1:
            row.extend(rng.choice(TEXTS) for _ in range(rng.randint(1, 3)))
    top = [["Deals report"], ["Generated 2026-03-01", ""], []][: rng.choice((0, 0, 0, 1, 3))]
    return [*top, headers, *rows]


def _csv(rng: random.Random, rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    quoting = rng.choice((csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC))
    writer = csv.writer(out, delimiter=rng.choice(DELIMITERS), lineterminator=rng.choice(("\n", "\r\n")),
                        quoting=quoting)
    writer.writerows(rows)
    text = out.getvalue()
    if rng.random() < 0.05:  # a stray quote: broken quoting
        at = rng.randrange(len(text) + 1)
        text = text[:at] + '"' + text[at:]
    return text.encode(rng.choice(ENCODINGS), errors="replace")


def _xlsx(rng: random.Random, rows: list[list[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append([_excel_value(rng, value) for value in row])
    if rng.random() < 0.5 and sheet.max_row > 1 and sheet.max_column > 1:
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=min(3, sheet.max_column))
    for extra in range(rng.randint(0, 2)):
        book.create_sheet(f"Sheet {extra + 2}").append(["other", "sheet"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _excel_value(rng: random.Random, value: str) -> object:
    value = "".join(ch for ch in value if ch >= " " or ch in "\t\n")  # XML cannot hold other controls
    if value.startswith("="):
        return "'" + value  # openpyxl would store it as a formula
    if rng.random() < 0.2:
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return value
    return value


def fuzz_file(seed: int) -> tuple[str, bytes]:
    """The file (name, bytes) of one seed; the same seed always gives the same bytes."""
    rng = random.Random(seed)
    kind = rng.choices(("csv", "xlsx", "empty", "junk", "truncated"), weights=(80, 12, 2, 3, 3))[0]
    if kind == "empty":
        return f"fuzz-{seed}.csv", rng.choice((b"", b"\n\n", b"\xef\xbb\xbf", b" \r\n"))
    if kind == "junk":
        return f"fuzz-{seed}.csv", rng.randbytes(rng.randint(1, 4000))
    rows = _rows(rng)
    if kind == "xlsx":
        return f"fuzz-{seed}.xlsx", _xlsx(rng, rows)
    data = _csv(rng, rows)
    if kind == "truncated":
        data = data[: rng.randint(0, len(data))]
    return f"fuzz-{seed}.csv", data


def ingest_outcome(name: str, data: bytes) -> str:
    """``"loaded"`` when ``data`` parses with every row accounted for (read = loaded + rejected,
    each reject with a reason), ``"refused: <ErrorClass>"`` for a clear refusal, and
    ``"crash: ..."`` (with the traceback's last line) for anything else."""
    from core.ingest import IngestError, parse_export

    try:
        parsed = parse_export(data, name)
    except IngestError as exc:
        if not str(exc).strip():
            return f"crash: {type(exc).__name__} without a reason"
        return f"refused: {type(exc).__name__}"
    except Exception:
        return "crash: " + traceback.format_exc().strip().splitlines()[-1]
    if parsed.rows_read != parsed.rows_loaded + parsed.rows_rejected:
        counts = f"{parsed.rows_read} != loaded {parsed.rows_loaded} + rejected {parsed.rows_rejected}"
        return f"crash: rows read {counts}"
    reasons = parsed.rejects["reason"]
    if reasons.isna().any() or (reasons.astype(str).str.strip() == "").any():
        return "crash: a rejected row without a reason"
    return "loaded"
