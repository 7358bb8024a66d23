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
import datetime as dt
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
    Parse,
    open_export,
    parse_into,
    parse_opened,
    plan_from_sample,
)
from core.ingest.results import IngestResult, ParsedExport
from core.ingest.save import as_date, duplicate_result, file_bytes, packer, save_upload, saved_result
from core.monitoring import observed_ingest
from core.snapshots import NewSnapshot, pack_raw
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
    with contextlib.closing(duckdb.connect()) as con:
        parse = parse_into(
            con,
            data,
            file_name,
            source=source,
            mapping=mapping,
            rates=rates,
            date_order=date_order,
            max_bytes=max_bytes,
        )
        table = con.sql(parse.deals_sql).to_arrow_table()
    return ParsedExport(
        file_name=file_name,
        sha256=parse.sha256,
        source=parse.source,
        table=table,
        rejects=parse.rejects,
        rows_read=parse.rows_read,
        mapping=parse.mapping,
        detection=parse.detection,
        warnings=parse.warnings,
        as_of_guess=parse.as_of_guess,
    )


@observed_ingest("deals")
def ingest_bytes(
    store: Store,
    data: bytes,
    file_name: str,
    *,
    source: str = "auto",
    as_of: dt.date | str | None = None,
    mapping: dict[str, str] | None = None,
    rates: RateTable | None = None,
    label: str | None = None,
    date_order: str | None = None,
    max_bytes: int | None = None,
    path: str | Path | None = None,
    uploaded_by: str | None = None,
) -> IngestResult:
    """Parse ``data`` and save it as one snapshot, atomically.

    Bytes already loaded are not saved again: the result names the existing snapshot in
    ``duplicate_of``. ``as_of`` defaults to the newest update/created date in the file,
    else today. A ``mapping`` given here is remembered for files with the same headers.
    ``path`` may name a file holding exactly ``data`` (``ingest_file`` passes it) so it
    is read in place. ``uploaded_by`` (the signed-in email, or ``cli:<user>``) is stored with the
    snapshot.
    Raises an IngestError subclass when the file cannot be read.
    """
    as_of_date = as_date(as_of) if as_of is not None else None
    packed = packer.submit(pack_raw, data)  # while the bytes are hashed and parsed
    sha256 = hashlib.sha256(data).hexdigest()
    existing = store.find_snapshot_by_sha(sha256)
    if existing is not None:
        return duplicate_result(store, existing.id)
    cur = store.cursor()

    def snapshot_of(parse: Parse) -> NewSnapshot:
        return NewSnapshot(
            as_of=as_of_date or parse.as_of_guess or dt.datetime.now(dt.UTC).date(),
            source=parse.source,
            file_name=file_name,
            sha256=sha256,
            rows_read=parse.rows_read,
            mapping=parse.mapping,
            detection=parse.detection,
            warnings=parse.warnings,
            label=label,
            uploaded_by=uploaded_by,
        )

    try:
        with open_export(
            cur,
            data,
            file_name,
            source=source,
            mapping=mapping,
            rates=rates,
            date_order=date_order,
            max_bytes=max_bytes,
            sha256=sha256,
            path=None if path is None else str(path),
            recall=None if mapping else functools.partial(remembered_mapping, store),
        ) as opened:
            plan = plan_from_sample(opened)
            result = save_direct(store, opened, plan, data, snapshot_of, packed)
            parse = parse_opened(opened, plan) if result is None else None
        if parse is not None:
            new = snapshot_of(parse)
            result = save_upload(
                store,
                new.sha256,
                new.kind,
                lambda: saved_result(
                    store.save_snapshot(new, cur.sql(parse.deals_sql), parse.rejects, data, packed=packed),
                    new,
                    parse.rejects,
                ),
            )
    finally:
        _drop_work_tables(cur)
    if mapping and result.duplicate_of is None:
        remember_mapping(store, result.detection["headers"], result.source, mapping)
    return result


def ingest_file(store: Store, path: str | Path, **options: Any) -> IngestResult:
    """``ingest_bytes`` for a file on disk; the snapshot keeps the file's name."""
    path = Path(path)
    return ingest_bytes(store, file_bytes(path), path.name, path=path, **options)


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in (RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE, REJECTS_TABLE, REJECT_SCANS_TABLE, LINES_TABLE):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


