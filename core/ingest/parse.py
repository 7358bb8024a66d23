"""The full parse of a deal export into temporary tables of one DuckDB connection.

``open_export`` opens the file (readers.py), picks the preset (detect.py) and mapping
(mapping.py); ``parse_opened`` decides per column how dates and numbers are written
(plan.py, values.py) from the first ``SAMPLE_ROWS`` rows and parses every column in one SQL
pass straight from the file, which also counts what those decisions rest on. When the
counts of all rows would decide otherwise (or the file is no longer than the sample), the
file is loaded as text, decided on in full and parsed from that. ``run_checks`` then sorts
each source row: it loads, or is rejected with every reason that applies; of rows sharing a
deal id the last wins and the others are rejected naming the winner.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from core.deals import DEAL_COLUMNS
from core.ingest.cells import RawTable, load_cells, read_cells
from core.ingest.detect import Detection, detect_source
from core.ingest.errors import MissingColumnsError, UnreadableFileError
from core.ingest.layout import mark_rows_to_keep
from core.ingest.mapping import header_signature, resolve_mapping
from core.ingest.plan import ColumnPlan
from core.ingest.presets import PRESET_NAMES, get_preset
from core.ingest.readers import open_cells
from core.ingest.results import Parse, Run
from core.ingest.save import IngestOptions
from core.ingest.values import cell, sql_literal

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


Recall = Callable[[list[str]], "tuple[str, dict[str, str]] | None"]


@dataclass
class Opened:
    """A file opened for parsing on ``con``: its cells, preset and mapping, nothing parsed yet;
    ``make_plan`` makes the column plan from the rows in ``raw.table``."""

    con: duckdb.DuckDBPyConnection
    raw: RawTable
    detection: Detection
    source: str
    mapping: dict[str, str]
    sha256: str
    make_plan: Callable[[], ColumnPlan]

    def parse(self, plan: ColumnPlan, run: Run, row_warnings: list[str]) -> Parse:
        """The ``Parse`` of rows parsed by ``plan`` and checked by ``run_checks`` into ``run``."""
        return Parse(
            source=self.source,
            mapping=self.mapping,
            detection=read_report(self.raw, self.detection, self.source, plan.report()),
            warnings=[*self.raw.warnings, *plan.warnings, *row_warnings],
            rejects=run.rejects,
            rows_read=run.rows_read,
            as_of_guess=run.as_of_guess,
            rows_sql=run.rows_sql,
        )


def parse_into(
    con: duckdb.DuckDBPyConnection, data: bytes, file_name: str, options: IngestOptions, sha256: str
) -> Parse:
    """Parse ``data`` into temporary tables of ``con`` (as ``open_export`` opens it)."""
    with open_export(con, data, file_name, options, sha256=sha256) as opened:
        return parse_opened(opened, plan_from_sample(opened))


@contextlib.contextmanager
def open_export(
    con: duckdb.DuckDBPyConnection,
    data: bytes,
    file_name: str,
    options: IngestOptions,
    *,
    sha256: str,
    recall: Recall | None = None,
) -> Iterator[Opened]:
    """Open ``data`` (whose sha256 is ``sha256``) for parsing while the block runs, as ``options``
    say (``source``, ``mapping``, ``rates``, ``date_order``, ``max_bytes``, ``path``); ``recall``
    finds the mapping remembered for a header. Raises an IngestError subclass when the file
    cannot be read, lacks an id and a title column, or (from the block) DuckDB fails."""
    options.check(PRESET_NAMES)
    source, mapping, rates = options.source, options.mapping, options.rate_table()
    try:
        with open_cells(
            con, data, file_name, max_bytes=options.byte_limit(), table=RAW_TABLE, path=options.file_path()
        ) as raw:
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
            yield Opened(
                con=con,
                raw=raw,
                detection=detection,
                source=chosen,
                mapping=used,
                sha256=sha256,
                make_plan=functools.partial(
                    ColumnPlan,
                    con,
                    raw,
                    used,
                    date_order=options.date_order or preset.date_order,
                    probability_scale=preset.probability_scale,
                    rates=rates,
                ),
            )
    except duckdb.Error as exc:
        raise UnreadableFileError(f"{file_name}: cannot be parsed: {str(exc).splitlines()[0]}") from None


def plan_from_sample(opened: Opened) -> ColumnPlan | None:
    """The plan made from the first ``SAMPLE_ROWS`` rows (loaded into ``raw.table``), or None
    when that is the whole file (which ``raw.table`` then holds)."""
    if load_cells(opened.con, opened.raw, SAMPLE_ROWS) < SAMPLE_ROWS:
        return None
    return opened.make_plan()


def parse_opened(opened: Opened, sample_plan: ColumnPlan | None) -> Parse:
    """Parse every row of an opened file (see ``_parse_rows``) and check them (``run_checks``)."""
    plan = _parse_rows(opened.con, opened.raw, opened.make_plan, sample_plan)
    run = run_checks(opened.con, opened.raw, plan)
    return opened.parse(plan, run, row_warnings(opened.con, opened.raw, plan))


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
            parse_cells(con, raw, sample_plan, from_file=True)
            mark_rows_to_keep(con, raw, PARSED_TABLE)
            rejected = rejected_cells(len(raw.headers), raw.keep)
            if sample_plan.holds_for(con, PARSED_TABLE, raw.keep, rejected):
                con.execute(f"DROP TABLE {raw.table}")
                raw.table = ""
                con.execute(f"DELETE FROM {PARSED_TABLE} WHERE NOT {raw.keep}")
                return sample_plan
        load_cells(con, raw)
    mark_rows_to_keep(con, raw, raw.table)
    plan = make_plan()
    parse_cells(con, raw, plan, from_file=False)
    con.execute(f"DELETE FROM {PARSED_TABLE} WHERE NOT {raw.keep}")
    return plan


def parse_cells(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan, *, from_file: bool) -> None:
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
                   {bad_sql(raw, plan)} AS _bad,
                   CASE WHEN _bad THEN [{raw_cells}] END AS _cells
            FROM (SELECT *, {parsed_sql(plan)}{inputs} FROM {source})"""

    if from_file:
        read_cells(con, raw, statement)
    else:
        con.execute(statement(raw.table))


def _cells(raw: RawTable, plan: ColumnPlan, *, mapped: bool) -> list[str]:
    """The cells of the mapped columns (which the parsed table holds parsed) or of the others
    (which it holds as they are)."""
    unmapped = set(plan.unmapped)
    return [cell(i) for i, header in enumerate(raw.headers) if (header not in unmapped) == mapped]


def parsed_sql(plan: ColumnPlan, typed: dict[str, str] | None = None) -> str:
    """The plan's canonical columns as a select list over the cells (``typed`` as
    ``ColumnPlan.columns`` takes it)."""
    return ",\n".join(f"{sql} AS {name}" for name, sql in plan.columns(typed).items())


def bad_sql(raw: RawTable, plan: ColumnPlan, typed: dict[str, str] | None = None) -> str:
    """SQL over the parsed columns: whether any check rejects the row (see ``_checks``)."""
    checks = _checks(raw, plan, typed)
    return f"coalesce({' OR '.join(f'({condition})' for condition, _ in checks)}, false)"


def _checks(raw: RawTable, plan: ColumnPlan, typed: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(condition, reason) of every check a row must pass (reasons name the row as ``_row``);
    ``typed`` as ``ColumnPlan.checks`` takes it."""
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
        *plan.checks(typed),
    ]


def run_checks(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan) -> Run:
    """Rejects and deals of the parsed table (``rows_sql`` selects the deals). The cells of
    rejected rows come from the parsed table's ``_cells``; the cells of duplicates, which pass
    every check, from the file loaded as text."""
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
    rejects = con.sql(
        f"""SELECT _row AS row_number, {raw_row_sql(width, raw.delimiter or ",")} AS raw,
                   CASE WHEN _bad THEN concat_ws('; ', {reasons}) ELSE {duplicate_reason} END AS reason
            FROM (SELECT p.* EXCLUDE (_cells{unmapped}), {raw.row_of("p.")} AS _row, {kept}, {cells}
                  FROM {PARSED_TABLE} p {join}
                  WHERE {rejected})
            ORDER BY _row"""
    ).to_arrow_table()
    if raw.table:
        con.execute(f"DROP TABLE {raw.table}")
    rows_read, newest = con.execute(
        f"""SELECT count(*), max(greatest(updated_at, created_at)) FILTER (WHERE NOT _bad)
            FROM {PARSED_TABLE}"""
    ).fetchall()[0]
    rows_sql = f"SELECT {deal_select(plan)} FROM {PARSED_TABLE} p WHERE NOT _bad"
    if duplicates:
        rows_sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {DUPLICATES_TABLE} d"
            f" WHERE d.deal_id = p.deal_id AND d.kept <> {raw.row_of('p.')})"
            " ORDER BY rowid"
        )
    return Run(rejects, rows_read, newest, rows_sql)


def deal_select(plan: ColumnPlan, value_base: str = "value_base") -> str:
    """SQL selecting the canonical deal columns (with ``extra``) from parsed columns, whose
    ``value_base`` is the SQL given."""
    values = {**{name: name for name in DEAL_COLUMNS}, "value_base": value_base, "extra": plan.extra_sql()}
    return ", ".join(f"CAST({values[name]} AS {kind}) AS {name}" for name, kind in DEAL_COLUMNS.items())


def rejected_cells(width: int, where: str = "true") -> str:
    """SQL for the cells, as the file's columns, of the parsed table's rejected rows matching
    ``where``."""
    return f"(SELECT {_kept_cells(width)} FROM {PARSED_TABLE} WHERE _bad AND {where})"


def _kept_cells(width: int, table: str = "") -> str:
    """SQL for the cells a rejected row keeps in ``_cells`` as the columns ``c0``... of the file."""
    return ", ".join(f"{table}_cells[{i + 1}] AS {cell(i)}" for i in range(width))


def raw_row_sql(width: int, delimiter: str) -> str:
    """SQL rebuilding a source row as delimited text (quoting cells that need it)."""
    quote, separator = "'\"'", sql_literal(delimiter)
    quoted = []
    for i in range(width):
        text = f"coalesce(c{i}, '')"
        special = f"contains({text}, {separator}) OR contains({text}, {quote}) OR contains({text}, chr(10))"
        escaped = f"{quote} || replace({text}, {quote}, '\"\"') || {quote}"
        quoted.append(f"CASE WHEN {special} THEN {escaped} ELSE {text} END")
    return f"concat_ws({separator}, {', '.join(quoted)})"


def row_warnings(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: ColumnPlan) -> list[str]:
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
