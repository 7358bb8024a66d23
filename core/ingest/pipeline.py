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

``ingest_bytes`` adds the store: the same bytes twice are reported as already loaded;
otherwise the parse runs in temporary tables of the store's own cursor (so a million
deals go from the parse into ``deals`` without a copy through Python); a thread
compresses the raw bytes while the deals are written (the parse keeps both cores busy,
the write does not), and the deals, rejects, raw bytes and counts land in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field

from core.config import get_settings
from core.currency import RateTable
from core.deals import DEAL_COLUMNS, conform
from core.errors import InputError
from core.ingest.detect import Detection, detect_source
from core.ingest.errors import MissingColumnsError, UnreadableFileError
from core.ingest.mapping import header_signature, remember_mapping, remembered_mapping, resolve_mapping
from core.ingest.plan import ColumnPlan
from core.ingest.presets import PRESET_NAMES, get_preset
from core.ingest.readers import RawTable, load_cells, mark_rows_to_keep, open_cells, read_cells
from core.ingest.values import DATE_ORDERS, cell, sql_literal
from core.store import NewSnapshot, Snapshot, Store, pack_raw

#: Rows named in one warning before "and N more".
ROWS_SHOWN = 5
#: Rows the column decisions are first made from; the parse checks them against all rows.
SAMPLE_ROWS = 10_000
#: Temporary tables of one parse (per cursor, so threads never share them).
RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE = "_ingest_raw", "_ingest_parsed", "_ingest_duplicates"

#: Serialises the "already loaded?" check with the save, so two threads loading the same
#: bytes at once make one snapshot.
_save_lock = threading.Lock()
#: Compresses uploads for ``raw_files`` while DuckDB writes their deals (zstd releases the GIL).
_packer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dealcast-pack")


@dataclass
class ParsedExport:
    """A parsed file, nothing written yet.

    ``table`` holds the loadable deals as Arrow with the canonical columns of core.deals
    (what ``Store.save_snapshot`` scans); ``deals`` is the same as a pandas frame with
    canonical dtypes, built on first use. ``rejects`` has ``row_number``, ``raw`` and
    ``reason``.
    """

    file_name: str
    sha256: str
    source: str
    table: pa.Table
    rejects: pd.DataFrame
    rows_read: int
    mapping: dict[str, str]
    detection: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    as_of_guess: dt.date | None = None

    @property
    def rows_loaded(self) -> int:
        return self.table.num_rows

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    @functools.cached_property
    def deals(self) -> pd.DataFrame:
        """The loadable deals as a pandas frame with canonical dtypes."""
        return conform(self.table.to_pandas())


class Reject(BaseModel):
    """One source row that did not load, and why."""

    row: int
    reason: str


class IngestResult(BaseModel):
    """What an ingest did: the snapshot, its counts, every rejected row and warning.

    For bytes already loaded nothing is written: ``snapshot_id`` and ``duplicate_of`` are
    both the existing snapshot, and the counts are its counts.
    """

    snapshot_id: int
    source: str
    as_of: dt.date
    file_name: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejects: list[Reject] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    duplicate_of: int | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    detection: dict[str, Any] = Field(default_factory=dict)


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
        parse = _parse(
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
) -> IngestResult:
    """Parse ``data`` and save it as one snapshot, atomically.

    Bytes already loaded are not saved again: the result names the existing snapshot in
    ``duplicate_of``. ``as_of`` defaults to the newest update/created date in the file,
    else today. A ``mapping`` given here is remembered for files with the same headers.
    ``path`` may name a file holding exactly ``data`` (``ingest_file`` passes it) so it
    is read in place. Raises an IngestError subclass when the file cannot be read.
    """
    as_of_date = _as_date(as_of) if as_of is not None else None
    sha256 = hashlib.sha256(data).hexdigest()
    existing = store.find_snapshot_by_sha(sha256)
    if existing is not None:
        return _duplicate_result(store, existing.id)
    cur = store.cursor()
    try:
        parse = _parse(
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
        )
        new = NewSnapshot(
            as_of=as_of_date or parse.as_of_guess or dt.datetime.now(dt.UTC).date(),
            source=parse.source,
            file_name=file_name,
            sha256=sha256,
            rows_read=parse.rows_read,
            mapping=parse.mapping,
            detection=parse.detection,
            warnings=parse.warnings,
            label=label,
        )
        result = save_upload(
            store,
            new,
            parse.rejects,
            lambda: store.save_snapshot(
                new, cur.sql(parse.deals_sql), parse.rejects, data, packed=_packer.submit(pack_raw, data)
            ),
        )
    finally:
        _drop_work_tables(cur)
    if mapping and result.duplicate_of is None:
        remember_mapping(store, parse.detection["headers"], parse.source, mapping)
    return result


def ingest_file(store: Store, path: str | Path, **options: Any) -> IngestResult:
    """``ingest_bytes`` for a file on disk; the snapshot keeps the file's name."""
    path = Path(path)
    return ingest_bytes(store, file_bytes(path), path.name, path=path, **options)


def file_bytes(path: Path) -> bytes:
    """The bytes of an upload on disk; a missing or unreadable file is a clear error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read: {exc.strerror or exc}.") from None


def save_upload(
    store: Store, new: NewSnapshot, rejects: pd.DataFrame, save: Callable[[], Snapshot]
) -> IngestResult:
    """Run ``save`` (which stores ``new``) unless the same bytes were loaded while this upload
    was parsed, and say what was done. One lock for every kind of upload, so two threads
    loading the same bytes at once make one snapshot."""
    with _save_lock:
        existing = store.find_snapshot_by_sha(new.sha256, kind=new.kind)
        if existing is not None:
            return _duplicate_result(store, existing.id)
        snapshot = save()
    return _result(snapshot, rejects, new.warnings, mapping=new.mapping, detection=new.detection)


def _duplicate_result(store: Store, snapshot_id: int) -> IngestResult:
    snapshot = store.get_snapshot(snapshot_id)
    warning = (
        f"{snapshot.file_name}: these exact bytes are already loaded as snapshot {snapshot.id}; "
        "nothing was written."
    )
    return _result(
        snapshot,
        store.load_rejects(snapshot.id),
        [warning],
        mapping=snapshot.mapping,
        detection=snapshot.detection,
        duplicate_of=snapshot.id,
    )


def _result(
    snapshot: Snapshot,
    rejects: pd.DataFrame,
    warnings: list[str],
    *,
    mapping: dict[str, str],
    detection: dict[str, Any],
    duplicate_of: int | None = None,
) -> IngestResult:
    """The result of an upload that is (now, or already was) ``snapshot``."""
    return IngestResult(
        snapshot_id=snapshot.id,
        source=snapshot.source,
        as_of=snapshot.as_of,
        file_name=snapshot.file_name,
        rows_read=snapshot.rows_read,
        rows_loaded=snapshot.rows_loaded,
        rows_rejected=snapshot.rows_rejected,
        rejects=_reject_list(rejects),
        warnings=warnings,
        duplicate_of=duplicate_of,
        mapping=mapping,
        detection=detection,
    )


def _reject_list(rejects: pd.DataFrame) -> list[Reject]:
    return [
        Reject(row=int(row), reason=str(reason))
        for row, reason in zip(rejects["row_number"], rejects["reason"], strict=True)
    ]


def read_report(
    raw: RawTable, detection: Detection, chosen: str, plan_report: dict[str, Any]
) -> dict[str, Any]:
    """How a file was read, detected and mapped: the ``detection`` of a parse, for the Upload
    page and ``ingest --json`` (deal exports and invoice lists alike)."""
    return {
        "source": chosen,
        "detected_source": detection.source,
        "evidence": detection.evidence,
        "scores": detection.scores,
        "kind": raw.kind,
        "encoding": raw.encoding,
        "delimiter": raw.delimiter,
        "header_row": raw.header_row,
        "headers": raw.headers,
        "header_signature": header_signature(raw.headers),
        "date_system": raw.date_system,
        "blank_rows": raw.blank_rows,
        "summary_rows": raw.summary_rows,
        **plan_report,
    }


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"as-of date {value!r} is not a date; use YYYY-MM-DD.") from None


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in (RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


# -- parsing ----------------------------------------------------------------------------

Recall = Callable[[list[str]], "tuple[str, dict[str, str]] | None"]


@dataclass
class _Parse:
    """A parse held in temporary tables of one connection; ``deals_sql`` selects the deals."""

    sha256: str
    source: str
    mapping: dict[str, str]
    detection: dict[str, Any]
    warnings: list[str]
    rejects: pd.DataFrame
    rows_read: int
    as_of_guess: dt.date | None
    deals_sql: str


def _parse(
    con: duckdb.DuckDBPyConnection,
    data: bytes,
    file_name: str,
    *,
    source: str,
    mapping: dict[str, str] | None,
    rates: RateTable | None,
    date_order: str | None,
    max_bytes: int | None,
    sha256: str | None = None,
    path: str | None = None,
    recall: Recall | None = None,
) -> _Parse:
    if source != "auto" and source not in PRESET_NAMES:
        raise InputError(f"unknown source {source!r}; choose auto or one of {', '.join(PRESET_NAMES)}.")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise InputError(f"unknown date order {date_order!r}; choose one of {', '.join(DATE_ORDERS)}.")
    settings = get_settings()
    rates = rates or RateTable.default(settings.base_currency)
    limit = settings.max_upload_bytes if max_bytes is None else max_bytes
    try:
        with open_cells(con, data, file_name, max_bytes=limit, table=RAW_TABLE, path=path) as raw:
            remembered = recall(raw.headers) if recall else None
            if remembered and not mapping:
                source = remembered[0] if source == "auto" else source
                mapping = remembered[1]
            detection = detect_source(raw.headers)
            chosen = detection.source if source == "auto" else source
            preset = get_preset(chosen)
            used = resolve_mapping(preset, raw.headers, mapping, file_name)
            if "deal_id" not in used and "title" not in used:
                raise MissingColumnsError(
                    f"{file_name}: no deal id or title column found (looked for the {chosen} names, e.g. "
                    f"{', '.join(repr(a) for a in preset.columns['title'][:2])}). Columns found: "
                    f"{', '.join(raw.headers)}. Map one with --map title='Column' or --map deal_id='Column'.",
                    missing=["deal_id", "title"],
                    found=raw.headers,
                )
            plan = _parse_rows(
                con,
                raw,
                functools.partial(
                    ColumnPlan,
                    con,
                    raw,
                    used,
                    date_order=date_order or preset.date_order,
                    probability_scale=preset.probability_scale,
                    rates=rates,
                ),
            )
            rejects, rows_read, as_of_guess, deals_sql = _run(con, raw, plan)
        row_warnings = _row_warnings(con, raw, plan)
    except duckdb.Error as exc:
        raise UnreadableFileError(f"{file_name}: cannot be parsed: {str(exc).splitlines()[0]}") from None
    report = read_report(raw, detection, chosen, plan.report())
    return _Parse(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        source=chosen,
        mapping=used,
        detection=report,
        warnings=[*raw.warnings, *plan.warnings, *row_warnings],
        rejects=rejects,
        rows_read=rows_read,
        as_of_guess=as_of_guess,
        deals_sql=deals_sql,
    )


def _parse_rows(
    con: duckdb.DuckDBPyConnection, raw: RawTable, make_plan: Callable[[], ColumnPlan]
) -> ColumnPlan:
    """Parse every row of the file into the temporary parsed table, keeping only data rows
    (``raw.keep``); return the plan it was parsed by, made with ``make_plan`` from the rows
    in ``raw.table``.

    The plan is made from the first ``SAMPLE_ROWS`` and the file parsed in one pass; when
    its counts say all rows decide otherwise, the sample is the whole file, or its dates are
    not all ISO (which only all their values can settle), the plan is made from the whole
    file loaded as text and the parse runs from that table."""
    if load_cells(con, raw, SAMPLE_ROWS) == SAMPLE_ROWS:
        plan = make_plan()
        if plan.iso_dates:
            _parse_cells(con, raw, plan, from_file=True)
            mark_rows_to_keep(con, raw, PARSED_TABLE)
            cells = _kept_cells(len(raw.headers))
            rejected = f"(SELECT {cells} FROM {PARSED_TABLE} WHERE _bad AND {raw.keep})"
            if plan.holds_for(con, PARSED_TABLE, raw.keep, rejected):
                con.execute(f"DROP TABLE {raw.table}")
                raw.table = ""
                con.execute(f"DELETE FROM {PARSED_TABLE} WHERE NOT {raw.keep}")
                return plan
        load_cells(con, raw)
    mark_rows_to_keep(con, raw, raw.table)
    plan = make_plan()
    _parse_cells(con, raw, plan, from_file=False)
    con.execute(f"DELETE FROM {PARSED_TABLE} WHERE NOT {raw.keep}")
    return plan


def _parse_cells(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan, *, from_file: bool) -> None:
    """One pass over every row's cells (read from the file, or from ``raw.table``) into the
    parsed table, in file order: the canonical columns, ``_bad`` (a check rejects the row),
    the cells of bad rows (``_cells``, for their reasons and raw text), the row's
    ``_filled``, ``_total`` and ``_first``, the plan's check inputs, and the unmapped cells
    (``extra`` is built from them as the deals are saved: short cells are held inline, their
    JSON would be copied here once more)."""
    width = len(raw.headers)
    raw_cells = ", ".join(cell(i) for i in range(width))
    parsed_cells = ", ".join(_cells(raw, plan, mapped=True))
    parsed_columns = ",\n".join(f"{sql} AS {name}" for name, sql in plan.columns().items())
    inputs = "".join(f", {sql} AS {name}" for name, sql in plan.check_inputs().items())
    bad = " OR ".join(f"({condition})" for condition, _ in _checks(raw, plan))

    def statement(source: str) -> str:
        return f"""CREATE OR REPLACE TEMP TABLE {PARSED_TABLE} AS
            SELECT * EXCLUDE ({parsed_cells}), {plan.value_base_sql()} AS value_base,
                   coalesce({bad}, false) AS _bad,
                   CASE WHEN _bad THEN [{raw_cells}] END AS _cells
            FROM (SELECT *, {parsed_columns}{inputs} FROM {source})"""

    if from_file:
        read_cells(con, raw, statement)
    else:
        con.execute(statement(raw.table))


def _cells(raw: RawTable, plan: ColumnPlan, *, mapped: bool) -> list[str]:
    """The cells of the mapped columns (which the parsed table holds parsed) or of the others
    (which it holds as they are)."""
    unmapped = set(plan.unmapped)
    return [cell(i) for i, header in enumerate(raw.headers) if (header not in unmapped) == mapped]


def _checks(raw: RawTable, plan: ColumnPlan) -> list[tuple[str, str]]:
    """(condition, reason) of every check a row must pass (reasons name the row as ``_row``)."""
    return [
        (
            "_overflow",
            f"'row ' || _row || ' has more fields than the {len(raw.headers)} columns of the header'",
        ),
        ("deal_id IS NULL", "'row ' || _row || ' has no deal id or title'"),
        *plan.checks(),
    ]


def _run(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan):
    """Rejects and deals of the parsed table: return (rejects, rows_read, as_of_guess, SQL
    selecting the deals). The cells of rejected rows come from the parsed table's ``_cells``;
    the cells of duplicates, which pass every check, from the file loaded as text."""
    width = len(raw.headers)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {DUPLICATES_TABLE} AS
            SELECT deal_id, max({raw.row}) AS kept FROM {PARSED_TABLE}
            WHERE NOT _bad GROUP BY deal_id HAVING count(*) > 1"""
    )
    (duplicates,) = con.execute(f"SELECT count(*) FROM {DUPLICATES_TABLE}").fetchall()[0]
    if duplicates and not raw.table:
        raw.table = RAW_TABLE
        load_cells(con, raw)
    if raw.table:
        cells, join = ", ".join(f"r.c{i}" for i in range(width)), f"JOIN {raw.table} r ON r.rowid = p.rowid"
    else:
        cells, join = _kept_cells(width, "p."), ""
    id_header = plan.mapping.get("deal_id", plan.mapping.get("title"))
    duplicate_reason = (
        f"'row ' || _row || ', column ' || {sql_literal(repr(id_header))} "
        "|| ': duplicate deal id ' || chr(39) || deal_id || chr(39) || ', row ' || kept "
        "|| ' has the same id and is kept (the last one wins)'"
    )
    reasons = ", ".join(f"CASE WHEN {check} THEN {reason} END" for check, reason in _checks(raw, plan))
    unmapped = "".join(f", {name}" for name in _cells(raw, plan, mapped=False))
    if duplicates:
        join += f" LEFT JOIN {DUPLICATES_TABLE} d ON d.deal_id = p.deal_id AND NOT p._bad"
        kept, rejected = "d.kept", f"p._bad OR (d.kept IS NOT NULL AND d.kept <> {raw.row_of('p.rowid')})"
    else:  # only the rejected rows are read, not every row probing an empty join
        kept, rejected = "NULL AS kept", "p._bad"
    rejects = con.execute(
        f"""SELECT _row AS row_number, {_raw_row_sql(width, raw.delimiter or ",")} AS raw,
                   CASE WHEN _bad THEN concat_ws('; ', {reasons}) ELSE {duplicate_reason} END AS reason
            FROM (SELECT p.* EXCLUDE (_cells{unmapped}), {raw.row_of("p.rowid")} AS _row, {kept}, {cells}
                  FROM {PARSED_TABLE} p {join}
                  WHERE {rejected})
            ORDER BY _row"""
    ).df()
    if raw.table:
        con.execute(f"DROP TABLE {raw.table}")
    rows_read, newest = con.execute(
        f"""SELECT count(*), max(greatest(updated_at, created_at)) FILTER (WHERE NOT _bad)
            FROM {PARSED_TABLE}"""
    ).fetchall()[0]
    values = {**{name: name for name in DEAL_COLUMNS}, "extra": plan.extra_sql()}
    select = ", ".join(f"CAST({values[name]} AS {kind}) AS {name}" for name, kind in DEAL_COLUMNS.items())
    deals_sql = f"SELECT {select} FROM {PARSED_TABLE} p WHERE NOT _bad"
    if duplicates:
        deals_sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {DUPLICATES_TABLE} d"
            f" WHERE d.deal_id = p.deal_id AND d.kept <> {raw.row_of('p.rowid')})"
            " ORDER BY rowid"
        )
    return rejects, rows_read, newest, deals_sql


def _kept_cells(width: int, table: str = "") -> str:
    """SQL for the cells a rejected row keeps in ``_cells`` as the columns ``c0``... of the file."""
    return ", ".join(f"{table}_cells[{i + 1}] AS {cell(i)}" for i in range(width))


def _raw_row_sql(width: int, delimiter: str) -> str:
    """SQL rebuilding a source row as delimited text (quoting cells that need it)."""
    quote, separator = "'\"'", sql_literal(delimiter)
    quoted = []
    for i in range(width):
        text = f"coalesce(c{i}, '')"
        special = f"contains({text}, {separator}) OR contains({text}, {quote}) OR contains({text}, chr(10))"
        escaped = f"{quote} || replace({text}, {quote}, '\"\"') || {quote}"
        quoted.append(f"CASE WHEN {special} THEN {escaped} ELSE {text} END")
    return f"concat_ws({separator}, {', '.join(quoted)})"


def _row_warnings(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan) -> list[str]:
    """One warning per currency that could not be converted, naming the rows."""
    rows = con.execute(
        f"""SELECT currency, count(*), list({raw.row} ORDER BY rowid)[1:{ROWS_SHOWN}]
            FROM {PARSED_TABLE} WHERE NOT _bad AND value IS NOT NULL AND value_base IS NULL
            GROUP BY currency ORDER BY currency NULLS FIRST"""
    ).fetchall()
    warnings = []
    for currency, count, examples in rows:
        where = ", ".join(str(row) for row in examples) + (
            f" and {count - len(examples)} more" if count > len(examples) else ""
        )
        if currency is None:
            warnings.append(
                f"{count} row(s) have a value but no currency (rows {where}); value_base left empty."
            )
        else:
            warnings.append(
                f"Currency {currency!r} has no rate to {plan.rates.base}: value_base left empty on "
                f"{count} row(s) (rows {where}). Add a rate for {currency} to convert them."
            )
    return warnings
