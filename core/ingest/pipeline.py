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
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
from core.ingest.readers import (
    RawTable,
    count_lines,
    load_cells,
    load_records,
    mark_rows_to_keep,
    open_cells,
    read_cells,
    typed_source,
)
from core.ingest.values import DATE_ORDERS, cell, sql_literal
from core.monitoring import observed_ingest
from core.store import NewSnapshot, Snapshot, Store, pack_raw

#: Rows named in one warning before "and N more".
ROWS_SHOWN = 5
#: Longest deal id and title a row may carry: CRM ids are a few dozen characters and titles a
#: line; a longer value is a broken or hostile file (a zip bomb once stored a 200-million
#: character id), and the row is rejected saying so.
MAX_ID_CHARS, MAX_TITLE_CHARS = 255, 1000
LENGTH_LIMITS = (("deal_id", "deal id", MAX_ID_CHARS), ("title", "title", MAX_TITLE_CHARS))
#: Rows the column decisions are first made from; the parse checks them against all rows.
SAMPLE_ROWS = 10_000
#: Temporary tables of one parse (per cursor, so threads never share them).
RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE = "_ingest_raw", "_ingest_parsed", "_ingest_duplicates"
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

#: Serialises the "already loaded?" check with the save, so two threads loading the same
#: bytes at once make one snapshot.
_save_lock = threading.Lock()
logger = logging.getLogger("core.ingest")
#: Compresses uploads for ``raw_files`` (and counts their lines) while DuckDB parses them
#: (zstd and numpy release the GIL).
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
    as_of_date = _as_date(as_of) if as_of is not None else None
    packed = _packer.submit(pack_raw, data)  # while the bytes are hashed and parsed
    sha256 = hashlib.sha256(data).hexdigest()
    existing = store.find_snapshot_by_sha(sha256)
    if existing is not None:
        return _duplicate_result(store, existing.id)
    cur = store.cursor()

    def snapshot_of(parse: _Parse) -> NewSnapshot:
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
        with _open(
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
            plan = _sample_plan(opened)
            result = _save_direct(store, opened, plan, data, snapshot_of, packed)
            parse = _parse_opened(opened, plan) if result is None else None
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


def file_bytes(path: Path) -> bytes:
    """The bytes of an upload on disk; a missing or unreadable file is a clear error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read: {exc.strerror or exc}.") from None


def save_upload(store: Store, sha256: str, kind: str, save: Callable[[], IngestResult]) -> IngestResult:
    """Run ``save`` (which stores an upload of ``kind`` with ``sha256`` and says what it did)
    unless the same bytes were loaded while this upload was parsed. One lock for every kind
    of upload, so two threads loading the same bytes at once make one snapshot."""
    with _save_lock:
        existing = store.find_snapshot_by_sha(sha256, kind=kind)
        if existing is not None:
            return _duplicate_result(store, existing.id)
        return save()


def saved_result(snapshot: Snapshot, new: NewSnapshot, rejects: pd.DataFrame) -> IngestResult:
    """The result of saving ``new`` with its ``rejects`` as ``snapshot``."""
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
    for table in (RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE, REJECTS_TABLE, REJECT_SCANS_TABLE, LINES_TABLE):
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


@dataclass
class _Opened:
    """A file opened for parsing on ``con``: its cells, preset and mapping, nothing parsed yet;
    ``make_plan`` makes the column plan from the rows in ``raw.table``."""

    con: duckdb.DuckDBPyConnection
    raw: RawTable
    detection: Detection
    source: str
    mapping: dict[str, str]
    sha256: str
    make_plan: Callable[[], ColumnPlan]

    def parse(
        self, plan: ColumnPlan, run: tuple[pd.DataFrame, int, dt.date | None, str], row_warnings: list[str]
    ) -> _Parse:
        """The ``_Parse`` of rows parsed by ``plan`` and checked by ``_run`` into ``run``."""
        rejects, rows_read, as_of_guess, deals_sql = run
        return _Parse(
            sha256=self.sha256,
            source=self.source,
            mapping=self.mapping,
            detection=read_report(self.raw, self.detection, self.source, plan.report()),
            warnings=[*self.raw.warnings, *plan.warnings, *row_warnings],
            rejects=rejects,
            rows_read=rows_read,
            as_of_guess=as_of_guess,
            deals_sql=deals_sql,
        )


def _parse(con: duckdb.DuckDBPyConnection, data: bytes, file_name: str, **options: Any) -> _Parse:
    """Parse ``data`` into temporary tables of ``con`` (options as ``_open`` takes them)."""
    with _open(con, data, file_name, **options) as opened:
        return _parse_opened(opened, _sample_plan(opened))


@contextlib.contextmanager
def _open(
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
) -> Iterator[_Opened]:
    """Open ``data`` for parsing while the block runs. Raises an IngestError subclass when the
    file cannot be read, lacks an id and a title column, or (from the block) DuckDB fails."""
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
            yield _Opened(
                con=con,
                raw=raw,
                detection=detection,
                source=chosen,
                mapping=used,
                sha256=sha256 or hashlib.sha256(data).hexdigest(),
                make_plan=functools.partial(
                    ColumnPlan,
                    con,
                    raw,
                    used,
                    date_order=date_order or preset.date_order,
                    probability_scale=preset.probability_scale,
                    rates=rates,
                ),
            )
    except duckdb.Error as exc:
        raise UnreadableFileError(f"{file_name}: cannot be parsed: {str(exc).splitlines()[0]}") from None


def _sample_plan(opened: _Opened) -> ColumnPlan | None:
    """The plan made from the first ``SAMPLE_ROWS`` rows (loaded into ``raw.table``), or None
    when that is the whole file (which ``raw.table`` then holds)."""
    if load_cells(opened.con, opened.raw, SAMPLE_ROWS) < SAMPLE_ROWS:
        return None
    return opened.make_plan()


def _parse_opened(opened: _Opened, sample_plan: ColumnPlan | None) -> _Parse:
    """Parse every row of an opened file (see ``_parse_rows``) and check them (``_run``)."""
    plan = _parse_rows(opened.con, opened.raw, opened.make_plan, sample_plan)
    run = _run(opened.con, opened.raw, plan)
    return opened.parse(plan, run, _row_warnings(opened.con, opened.raw, plan))


def _parse_rows(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    make_plan: Callable[[], ColumnPlan],
    sample_plan: ColumnPlan | None,
) -> ColumnPlan:
    """Parse every row of the file into the temporary parsed table, keeping only data rows
    (``raw.keep``); return the plan it was parsed by.

    The file is parsed in one pass by the plan made from its first rows; when its counts say
    all rows decide otherwise, the sample was the whole file (no ``sample_plan``), or its
    dates are not all ISO (which only all their values can settle), the plan is made with
    ``make_plan`` from the whole file loaded as text and the parse runs from that table."""
    if sample_plan is not None:
        if sample_plan.iso_dates:
            _parse_cells(con, raw, sample_plan, from_file=True)
            mark_rows_to_keep(con, raw, PARSED_TABLE)
            rejected = _rejected_cells(len(raw.headers), raw.keep)
            if sample_plan.holds_for(con, PARSED_TABLE, raw.keep, rejected):
                con.execute(f"DROP TABLE {raw.table}")
                raw.table = ""
                con.execute(f"DELETE FROM {PARSED_TABLE} WHERE NOT {raw.keep}")
                return sample_plan
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
    inputs = "".join(f", {sql} AS {name}" for name, sql in plan.check_inputs().items())

    def statement(source: str) -> str:
        return f"""CREATE OR REPLACE TEMP TABLE {PARSED_TABLE} AS
            SELECT * EXCLUDE ({parsed_cells}), {plan.value_base_sql()} AS value_base,
                   {_bad_sql(raw, plan)} AS _bad,
                   CASE WHEN _bad THEN [{raw_cells}] END AS _cells
            FROM (SELECT *, {_parsed_sql(plan)}{inputs} FROM {source})"""

    if from_file:
        read_cells(con, raw, statement)
    else:
        con.execute(statement(raw.table))


def _cells(raw: RawTable, plan: ColumnPlan, *, mapped: bool) -> list[str]:
    """The cells of the mapped columns (which the parsed table holds parsed) or of the others
    (which it holds as they are)."""
    unmapped = set(plan.unmapped)
    return [cell(i) for i, header in enumerate(raw.headers) if (header not in unmapped) == mapped]


def _parsed_sql(plan: ColumnPlan, *, typed_numbers: bool = False) -> str:
    """The plan's canonical columns as a select list over the cells (``typed_numbers`` as
    ``ColumnPlan.columns`` takes it)."""
    return ",\n".join(f"{sql} AS {name}" for name, sql in plan.columns(typed_numbers=typed_numbers).items())


def _bad_sql(raw: RawTable, plan: ColumnPlan, *, typed_numbers: bool = False) -> str:
    """SQL over the parsed columns: whether any check rejects the row (see ``_checks``)."""
    checks = _checks(raw, plan, typed_numbers=typed_numbers)
    return f"coalesce({' OR '.join(f'({condition})' for condition, _ in checks)}, false)"


def _checks(raw: RawTable, plan: ColumnPlan, *, typed_numbers: bool = False) -> list[tuple[str, str]]:
    """(condition, reason) of every check a row must pass (reasons name the row as ``_row``);
    ``typed_numbers`` as ``ColumnPlan.checks`` takes it."""
    return [
        (
            "_overflow",
            f"'row ' || _row || ' has more fields than the {len(raw.headers)} columns of the header'",
        ),
        ("deal_id IS NULL", "'row ' || _row || ' has no deal id or title'"),
        *(
            (
                f"length({name}) > {limit}",
                f"'row ' || _row || ': the {what} is ' || format('{{:,}}', length({name})) "
                f"|| ' characters long, over the {limit:,} allowed'",
            )
            for name, what, limit in LENGTH_LIMITS
        ),
        *plan.checks(typed_numbers=typed_numbers),
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
        kept, rejected = "d.kept", f"p._bad OR (d.kept IS NOT NULL AND d.kept <> {raw.row_of('p.')})"
    else:  # only the rejected rows are read, not every row probing an empty join
        kept, rejected = "NULL AS kept", "p._bad"
    rejects = con.execute(
        f"""SELECT _row AS row_number, {_raw_row_sql(width, raw.delimiter or ",")} AS raw,
                   CASE WHEN _bad THEN concat_ws('; ', {reasons}) ELSE {duplicate_reason} END AS reason
            FROM (SELECT p.* EXCLUDE (_cells{unmapped}), {raw.row_of("p.")} AS _row, {kept}, {cells}
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
    deals_sql = f"SELECT {_deal_select(plan)} FROM {PARSED_TABLE} p WHERE NOT _bad"
    if duplicates:
        deals_sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {DUPLICATES_TABLE} d"
            f" WHERE d.deal_id = p.deal_id AND d.kept <> {raw.row_of('p.')})"
            " ORDER BY rowid"
        )
    return rejects, rows_read, newest, deals_sql


def _deal_select(plan: ColumnPlan, value_base: str = "value_base") -> str:
    """SQL selecting the canonical deal columns (with ``extra``) from parsed columns, whose
    ``value_base`` is the SQL given."""
    values = {**{name: name for name in DEAL_COLUMNS}, "value_base": value_base, "extra": plan.extra_sql()}
    return ", ".join(f"CAST({values[name]} AS {kind}) AS {name}" for name, kind in DEAL_COLUMNS.items())


def _rejected_cells(width: int, where: str = "true") -> str:
    """SQL for the cells, as the file's columns, of the parsed table's rejected rows matching
    ``where``."""
    return f"(SELECT {_kept_cells(width)} FROM {PARSED_TABLE} WHERE _bad AND {where})"


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


# -- the direct load ---------------------------------------------------------------------


class _NeedsFullParse(Exception):
    """A direct load met rows that only the full parse reads as it would; it is undone."""


def _save_direct(
    store: Store,
    opened: _Opened,
    plan: ColumnPlan | None,
    data: bytes,
    snapshot_of: Callable[[_Parse], NewSnapshot],
    packed: Future[tuple[str | None, bytes]],
) -> IngestResult | None:
    """Save a plain CSV (``_direct_eligible``) by inserting its deals straight from DuckDB's
    typed reader inside the save's transaction (``_load_direct``): the same snapshot as the
    full parse would save, without a parsed table in between. None, with nothing written,
    when the file is not that plain after all (the full parse then takes it)."""
    if plan is None or not _direct_eligible(opened, plan):
        return None
    lines = _packer.submit(count_lines, data)
    saved: dict[str, Any] = {}

    def write(cur: duckdb.DuckDBPyConnection, snapshot_id: int) -> tuple[NewSnapshot, pd.DataFrame, int]:
        parse, rows_loaded = _load_direct(cur, opened, plan, lines, snapshot_id)
        saved["new"], saved["rejects"] = snapshot_of(parse), parse.rejects
        return saved["new"], parse.rejects, rows_loaded

    def save() -> IngestResult:
        snapshot = store.write_snapshot(write, data, packed=packed)
        return saved_result(snapshot, saved["new"], saved["rejects"])

    try:
        return save_upload(store, opened.sha256, "deals", save)
    except duckdb.InterruptException:
        raise
    except (_NeedsFullParse, duckdb.Error) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        logger.info("%s: not loaded directly (%s); parsing it in full.", opened.raw.file_name, why)
        return None


def _direct_eligible(opened: _Opened, plan: ColumnPlan) -> bool:
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
                   count(*) FILTER (WHERE {_bad_sql(raw, plan)} AND NOT ({text or "false"})),
                   count(*) FILTER (WHERE {text or "false"}), count(*)
            FROM (SELECT *, {_parsed_sql(plan)} FROM {raw.table})"""
    ).fetchall()[0]
    return not irregular and not failing and textual <= DIRECT_TEXT_SHARE * rows


def _load_direct(
    cur: duckdb.DuckDBPyConnection, opened: _Opened, plan: ColumnPlan, lines: Future[int], snapshot_id: int
) -> tuple[_Parse, int]:
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
    source = typed_source(raw, plan.typed_numbers(), REJECTS_TABLE, REJECT_SCANS_TABLE)
    # A row that is not a plain deal passing every check stops the insert: a filter would parse
    # each row twice (once to check it, once to insert it).
    (inserted,) = cur.execute(
        f"""INSERT INTO deals
            SELECT CASE WHEN NOT {DIRECT_ROWS} OR {_bad_sql(raw, plan, typed_numbers=True)}
                        THEN error({sql_literal(NOT_PLAIN)}) ELSE ? END,
                   {_deal_select(plan, plan.value_base_sql())}
            FROM (SELECT *, {_parsed_sql(plan, typed_numbers=True)} FROM {source})""",
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
    opened: _Opened,
    plan: ColumnPlan,
    records: list[tuple[int, str]],
    snapshot_id: int,
) -> tuple[_Parse, int, int]:
    """Parse the rows the typed reader refused, given as (position, text), from their text as
    the full parse would, and insert their deals; return their parse (rejects, warnings, rows
    read), the deals inserted and how many of those have a value but no rate. Raise
    ``_NeedsFullParse`` when one is not a plain deal or they change the plan's decisions."""
    if not records:
        no_rejects = pd.DataFrame({"row_number": [], "raw": [], "reason": []})
        return opened.parse(plan, (no_rejects, 0, None, ""), []), 0, 0
    part, loaded = load_records(cur, opened.raw, records, LINES_TABLE)
    if loaded != len(records):
        raise _NeedsFullParse(f"{len(records)} refused rows read as {loaded}")
    _parse_cells(cur, part, plan, from_file=False)
    irregular, unconverted = cur.execute(
        f"""SELECT count(*) FILTER (WHERE NOT {DIRECT_ROWS}),
                   count(*) FILTER (WHERE NOT _bad AND value IS NOT NULL AND value_base IS NULL)
            FROM {PARSED_TABLE}"""
    ).fetchall()[0]
    rejected = _rejected_cells(len(part.headers))
    if irregular:
        raise _NeedsFullParse(f"{irregular} refused rows are not plain deals")
    if not plan.holds_beside_typed_numbers(cur, PARSED_TABLE, "true", rejected):
        raise _NeedsFullParse("the refused rows change how a column is read")
    run = _run(cur, part, plan)
    (inserted,) = cur.execute(f"INSERT INTO deals SELECT ?, * FROM ({run[3]})", [snapshot_id]).fetchall()[0]
    return opened.parse(plan, run, _row_warnings(cur, part, plan)), inserted, unconverted
