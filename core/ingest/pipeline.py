"""Parse an export into canonical deals and rejected rows; save it as one snapshot.

``parse_export`` writes nothing: it opens the file (readers.py) in a private in-memory
DuckDB, picks the preset (detect.py) and mapping (mapping.py), decides per column how
dates and numbers are written (plan.py, values.py) from the first ``SAMPLE_ROWS`` rows,
and parses every column in one SQL pass straight from the file, which also counts what
those decisions rest on. When the counts of all rows would decide otherwise (or the file
is no longer than the sample), the file is loaded as text, decided on in full and parsed
from that. Each source row then either loads or is rejected with every reason that
applies; of rows sharing a deal id the last wins and the others are rejected naming the
winner.

``ingest_bytes`` adds the store (save.py): the same bytes twice are reported as already loaded;
otherwise the parse runs in temporary tables of the store's own cursor (so a million
deals go from the parse into ``deals`` without a copy through Python); a thread
compresses the raw bytes meanwhile, and the deals, rejects, raw bytes and counts land in
one transaction.

A plain CSV (ISO dates, numbers with a decimal point, rows that pass every check) takes
the direct load instead: DuckDB's typed reader converts its numbers and the plan's SQL
the rest, straight into ``deals`` inside the save's transaction, with no parsed table in
between (about half the time at a million rows). The rows the reader refuses are parsed
again from their text. The direct load saves exactly what the full parse would; when a
row shows it cannot (a bad date, a duplicated id, a blank line...) it is undone and the
full parse runs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from pathlib import Path
from typing import Any

import duckdb

from core.currency import RateTable
from core.ingest.direct import LINES_TABLE, REJECT_SCANS_TABLE, REJECTS_TABLE, save_direct
from core.ingest.mapping import remember_mapping, remembered_mapping
from core.ingest.parse import (
    DUPLICATES_TABLE,
    PARSED_TABLE,
    RAW_TABLE,
    open_export,
    parse_into,
    parse_opened,
    plan_from_sample,
)
from core.ingest.results import IngestResult, ParsedExport
from core.ingest.save import IngestOptions, Upload, ingest_path, ingest_upload
from core.monitoring import observed_ingest
from core.store import Store


def parse_export(
    data: bytes,
    file_name: str,
    *,
    source: str = "auto",
    mapping: dict[str, str] | None = None,
    rates: RateTable | None = None,
    date_order: str | None = None,
    max_bytes: int | None = None,
) -> ParsedExport:
    """Parse a CSV/XLSX export into canonical deals and rejects; writes nothing.

    Raises an IngestError subclass when the file cannot be read at all.
    """
    options = IngestOptions(
        source=source, mapping=mapping, rates=rates, date_order=date_order, max_bytes=max_bytes
    )
    sha256 = hashlib.sha256(data).hexdigest()
    with contextlib.closing(duckdb.connect()) as con:
        parse = parse_into(con, data, file_name, options, sha256)
        table = con.sql(parse.rows_sql).to_arrow_table()
    return ParsedExport(
        file_name=file_name,
        sha256=sha256,
        source=parse.source,
        table=table,
        rejects=parse.rejects.to_pandas(),
        rows_read=parse.rows_read,
        mapping=parse.mapping,
        detection=parse.detection,
        warnings=parse.warnings,
        as_of_guess=parse.as_of_guess,
    )


@observed_ingest("deals")
def ingest_bytes(store: Store, data: bytes, file_name: str, **options: Any) -> IngestResult:
    """Parse ``data`` and save it as one snapshot, atomically; ``options`` are those of
    ``IngestOptions`` (source, as_of, mapping, rates, label, date_order, max_bytes, path,
    uploaded_by).

    Bytes already loaded are not saved again: the result names the existing snapshot in
    ``duplicate_of``. ``as_of`` defaults to the newest update/created date in the file,
    else today. A ``mapping`` given here is remembered for files with the same headers.
    ``path`` may name a file holding exactly ``data`` (``ingest_file`` passes it) so it
    is read in place. ``uploaded_by`` (the signed-in email, or ``cli:<user>``) is stored with the
    snapshot.
    Raises an IngestError subclass when the file cannot be read.
    """
    given = IngestOptions(**options)
    result = ingest_upload(store, data, file_name, "deals", given, _load, WORK_TABLES)
    if given.mapping and result.duplicate_of is None:
        remember_mapping(store, result.detection["headers"], result.source, given.mapping)
    return result


def ingest_file(store: Store, path: str | Path, **options: Any) -> IngestResult:
    """``ingest_bytes`` for a file on disk; the snapshot keeps the file's name."""
    return ingest_path(ingest_bytes, store, path, options)


#: The temporary tables an ingest leaves on the store's cursor (the full parse's, the direct load's).
WORK_TABLES = (RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE, REJECTS_TABLE, REJECT_SCANS_TABLE, LINES_TABLE)


def _load(upload: Upload) -> IngestResult:
    """Parse and save a deal export: by the direct load when it is plain enough, else the full parse."""
    recall = None if upload.options.mapping else functools.partial(remembered_mapping, upload.store)
    with open_export(
        upload.cursor, upload.data, upload.file_name, upload.options, sha256=upload.sha256, recall=recall
    ) as opened:
        plan = plan_from_sample(opened)
        saved = save_direct(upload, opened, plan)
        if saved is not None:
            return saved
        parse = parse_opened(opened, plan)
    return upload.save(parse, "deals")
