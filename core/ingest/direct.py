"""The direct load: a plain CSV straight into ``deals``, with no parsed table in between.

A plain CSV (ISO dates, numbers with a decimal point, rows that pass every check) is loaded
by DuckDB's typed reader, which converts its numbers, and the plan's SQL the rest, inside the
save's transaction (about half the time of the full parse at a million rows). The rows the
reader refuses are parsed again from their text. The direct load saves exactly what the full
parse (parse.py) would; when a row shows it cannot (a bad date, a duplicated id, a blank
line...) it is undone and the full parse runs.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import duckdb

from core.ingest.csv_reader import count_lines, holds_control_whitespace, load_records, typed_source
from core.ingest.parse import (
    PARSED_TABLE,
    Opened,
    bad_sql,
    deal_select,
    parse_cells,
    parsed_sql,
    rejected_cells,
    row_warnings,
    run_checks,
)
from core.ingest.plan import TYPED_DATES, ColumnPlan
from core.ingest.results import IngestResult, Parse, Run
from core.ingest.save import Upload, packer, save_upload, saved_result
from core.ingest.values import sql_literal
from core.store import NewSnapshot

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger("core.ingest")


#: ... of a direct load: the rows DuckDB's typed reader refused (and its scans), their cells.
REJECTS_TABLE, REJECT_SCANS_TABLE = "_ingest_reject_errors", "_ingest_reject_scans"
LINES_TABLE = "_ingest_lines"
#: The direct load parses again from their text the rows whose numbers DuckDB's reader cannot
#: convert; it takes a file whose sample has at most this share of them, and gives up past
#: this share of the file (plus 100 rows).
DIRECT_TEXT_SHARE = 0.01

#: Rows a direct load inserts: rows of two or more cells that are not totals (blank rows,
#: totals and footers need the full parse).
DIRECT_ROWS = "(_filled >= 2 AND NOT _total)"
#: The error a direct load's insert stops with at a row that is not a plain deal.
NOT_PLAIN = "a row is not a plain deal that passes every check"


class _NeedsFullParse(Exception):
    """A direct load met rows that only the full parse reads as it would; it is undone."""


def save_direct(upload: Upload, opened: Opened, plan: ColumnPlan | None) -> IngestResult | None:
    """Save a plain CSV (``_direct_eligible``) by inserting its deals straight from DuckDB's
    typed reader inside the save's transaction (``_load_direct``): the same snapshot as the
    full parse would save, without a parsed table in between. None, with nothing written,
    when the file is not that plain after all (the full parse then takes it)."""
    if plan is None:
        return None
    controls = packer.submit(holds_control_whitespace, upload.data)  # while the sample is checked
    if not _direct_eligible(opened, plan):
        return None
    lines = packer.submit(count_lines, upload.data)
    saved: dict[str, Any] = {}

    def write(cur: duckdb.DuckDBPyConnection, snapshot_id: int) -> tuple[NewSnapshot, pa.Table, int]:
        parse, rows_loaded = _load_direct(cur, opened, plan, lines, snapshot_id, dates=not controls.result())
        saved["new"], saved["rejects"] = upload.snapshot(parse), parse.rejects
        return saved["new"], parse.rejects, rows_loaded

    def save() -> IngestResult:
        snapshot = upload.store.write_snapshot(write, upload.data, packed=upload.packed)
        return saved_result(snapshot, saved["new"], saved["rejects"])

    try:
        return save_upload(upload.store, upload.sha256, upload.kind, save)
    except duckdb.InterruptException:
        raise
    except (_NeedsFullParse, duckdb.Error) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        logger.info("%s: not loaded directly (%s); parsing it in full.", opened.raw.file_name, why)
        return None


def _direct_eligible(opened: Opened, plan: ColumnPlan) -> bool:
    """Whether a file looks plain enough to load directly: a CSV of one line per record, which
    its sample plan reads with typed numbers, whose sample rows are all deals that pass every
    check, but for at most ``DIRECT_TEXT_SHARE`` of them with numbers the reader cannot convert."""
    raw = opened.raw
    if raw.kind != "csv" or raw.encoding == "utf-16" or raw.csv_options["skip"] != raw.header_row:
        return False
    if not plan.reads_typed_numbers:
        return False
    text = " OR ".join(
        f"({s} IS NOT NULL AND TRY_CAST({s} AS DOUBLE) IS NULL)" for s in plan.number_cells.values()
    )
    irregular, failing, textual, rows = opened.con.execute(
        f"""SELECT count(*) FILTER (WHERE NOT {DIRECT_ROWS}),
                   count(*) FILTER (WHERE {bad_sql(raw, plan)} AND NOT ({text or "false"})),
                   count(*) FILTER (WHERE {text or "false"}), count(*)
            FROM (SELECT *, {parsed_sql(plan)} FROM {raw.table})"""
    ).fetchall()[0]
    return not irregular and not failing and textual <= DIRECT_TEXT_SHARE * rows


def _load_direct(
    cur: duckdb.DuckDBPyConnection,
    opened: Opened,
    plan: ColumnPlan,
    lines: Future[int],
    snapshot_id: int,
    *,
    dates: bool,
) -> tuple[Parse, int]:
    """Insert the deals of an eligible file into ``deals`` as ``snapshot_id`` in one pass of
    DuckDB's reader, its number columns converted by the reader and every other column by
    the plan's SQL; return the parse and the rows inserted. Raise ``_NeedsFullParse`` (or a
    DuckDB error) unless that is exactly what the full parse would load.

    The reader leaves out (and records) rows with a number it cannot convert; those are
    parsed again from their text (``_reparse``). Any other row that is not a plain deal
    passing every check stops the insert with ``NOT_PLAIN``. The full parse is also needed
    when the rows inserted and refused do not account for every line of the file (a blank
    line, a record spanning lines), the reader refused a row for anything but a value, two
    rows share a deal id, or a loaded value has no rate (its warning names rows)."""
    raw = opened.raw
    typed = plan.typed_cells(opened.con, raw.table, dates=dates)
    formats = {option: text for _, option, text in TYPED_DATES.values()}
    source = typed_source(raw, typed, REJECTS_TABLE, REJECT_SCANS_TABLE, formats)
    # A row that is not a plain deal passing every check stops the insert: a filter would parse
    # each row twice (once to check it, once to insert it).
    (inserted,) = cur.execute(
        f"""INSERT INTO deals
            SELECT CASE WHEN NOT {DIRECT_ROWS} OR {bad_sql(raw, plan, typed)}
                        THEN error({sql_literal(NOT_PLAIN)}) ELSE ? END,
                   {deal_select(plan, plan.value_base_sql())}
            FROM (SELECT *, {parsed_sql(plan, typed)} FROM {source})""",
        [snapshot_id, *raw.params],
    ).fetchall()[0]
    refused = cur.execute(
        f"""SELECT line - {raw.csv_options["skip"] + 1}, any_value(csv_line), bool_and(error_type = 'CAST')
            FROM {REJECTS_TABLE} GROUP BY line ORDER BY line"""
    ).fetchall()
    records = lines.result() - raw.csv_options["skip"]
    if inserted + len(refused) != records:
        raise _NeedsFullParse(f"{inserted} rows loaded and {len(refused)} refused of {records} lines")
    if not all(value_only for *_, value_only in refused):
        raise _NeedsFullParse("the reader refused a row for its shape, not a value")
    if len(refused) > DIRECT_TEXT_SHARE * records + 100:
        raise _NeedsFullParse(f"{len(refused)} rows have numbers to parse from text")
    texts = [(position, text) for position, text, _ in refused]
    parse, reparsed, reparsed_unconverted = _reparse(cur, opened, plan, texts, snapshot_id)
    duplicates, unconverted, newest = cur.execute(
        """SELECT count(*) - count(DISTINCT deal_id),
                  count(*) FILTER (WHERE value IS NOT NULL AND value_base IS NULL),
                  max(greatest(updated_at, created_at))
           FROM deals WHERE snapshot_id = ?""",
        [snapshot_id],
    ).fetchall()[0]
    if duplicates:
        raise _NeedsFullParse(f"{duplicates} deal ids are duplicated")
    if unconverted != reparsed_unconverted:
        raise _NeedsFullParse("values without a rate, whose warning names their rows")
    parse.rows_read += inserted
    parse.as_of_guess = newest
    return parse, inserted + reparsed


def _reparse(
    cur: duckdb.DuckDBPyConnection,
    opened: Opened,
    plan: ColumnPlan,
    records: list[tuple[int, str]],
    snapshot_id: int,
) -> tuple[Parse, int, int]:
    """Parse the rows the typed reader refused, given as (position, text), from their text as
    the full parse would, and insert their deals; return their parse (rejects, warnings, rows
    read), the deals inserted and how many of those have a value but no rate. Raise
    ``_NeedsFullParse`` when one is not a plain deal or they change the plan's decisions."""
    if not records:
        import pyarrow as pa  # not at the top: the start of an ingest need not wait for it

        columns = [("row_number", pa.int64()), ("raw", pa.string()), ("reason", pa.string())]
        no_rejects = pa.schema(columns).empty_table()
        return opened.parse(plan, Run(no_rejects, 0, None, ""), []), 0, 0
    part, loaded = load_records(cur, opened.raw, records, LINES_TABLE)
    if loaded != len(records):
        raise _NeedsFullParse(f"{len(records)} refused rows read as {loaded}")
    parse_cells(cur, part, plan, from_file=False)
    irregular, unconverted = cur.execute(
        f"""SELECT count(*) FILTER (WHERE NOT {DIRECT_ROWS}),
                   count(*) FILTER (WHERE NOT _bad AND value IS NOT NULL AND value_base IS NULL)
            FROM {PARSED_TABLE}"""
    ).fetchall()[0]
    rejected = rejected_cells(len(part.headers))
    if irregular:
        raise _NeedsFullParse(f"{irregular} refused rows are not plain deals")
    if not plan.holds_beside_typed_numbers(cur, PARSED_TABLE, "true", rejected):
        raise _NeedsFullParse("the refused rows change how a column is read")
    run = run_checks(cur, part, plan)
    (inserted,) = cur.execute(
        f"INSERT INTO deals SELECT ?, * FROM ({run.rows_sql})", [snapshot_id]
    ).fetchall()[0]
    return opened.parse(plan, run, row_warnings(cur, part, plan)), inserted, unconverted
