"""Parse an export into canonical deals and rejected rows; save it as one snapshot.

``parse_export`` writes nothing: it reads the file (readers.py) into a private in-memory
DuckDB, picks the preset (detect.py) and mapping (mapping.py), decides per column how
dates and numbers are written (values.py), and parses every column in one SQL pass.
Each source row then either loads or is rejected with every reason that applies; of
rows sharing a deal id the last wins and the others are rejected saying which row won.
``ingest_bytes`` adds the store: the same bytes twice are reported as already loaded,
otherwise the deals, rejects, raw bytes and counts land in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field

from core.config import get_settings
from core.currency import CURRENCY_SYMBOLS, RateTable
from core.deals import DATE_COLUMNS, DEAL_COLUMNS
from core.errors import InputError
from core.ingest.detect import detect_source
from core.ingest.errors import MissingColumnsError, UnreadableFileError
from core.ingest.mapping import header_signature, remember_mapping, remembered_mapping, resolve_mapping
from core.ingest.presets import PRESET_NAMES, get_preset
from core.ingest.readers import RawTable, read_table
from core.ingest.values import (
    DATE_ORDERS,
    cell,
    currency_in_value_sql,
    date_sql,
    describe_date_order,
    number_sql,
    percent_sql,
    profile_dates,
    profile_decimal_marks,
    reason_sql,
    sql_literal,
    status_sql,
)
from core.store import NewSnapshot, Store

#: Rows named in one warning before "and N more".
ROWS_SHOWN = 5
#: Columns whose absence is worth a warning, with what it means for the deals.
MISSING_COLUMN_EFFECTS = {
    "stage": "every deal is at an unknown stage",
    "status": "deals are open unless their stage says won or lost",
    "value": "deal values are empty",
}

_save_lock = threading.Lock()


@dataclass
class ParsedExport:
    """A parsed file, nothing written yet.

    ``deals`` is an Arrow table with the canonical columns of core.deals (what
    ``Store.save_snapshot`` scans); ``deals_frame()`` gives it as a pandas frame.
    ``rejects`` has ``row_number``, ``raw`` and ``reason``.
    """

    file_name: str
    sha256: str
    source: str
    deals: pa.Table
    rejects: pd.DataFrame
    rows_read: int
    mapping: dict[str, str]
    detection: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    as_of_guess: dt.date | None = None

    @property
    def rows_loaded(self) -> int:
        return self.deals.num_rows

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    def deals_frame(self) -> pd.DataFrame:
        """The deals as a pandas frame with canonical dtypes."""
        from core.deals import conform

        return conform(self.deals.to_pandas())


class Reject(BaseModel):
    """One source row that did not load, and why."""

    row: int
    reason: str


class IngestResult(BaseModel):
    """What an ingest did: the snapshot, its counts, every rejected row and warning."""

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
    """Parse a CSV/XLSX export into canonical deals and rejects; raises IngestError when
    the file cannot be read at all. Writes nothing."""
    return _parse(data, file_name, source=source, mapping=mapping, rates=rates, date_order=date_order,
                  max_bytes=max_bytes)


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
) -> IngestResult:
    """Parse ``data`` and save it as one snapshot, atomically. Bytes already loaded are not
    saved again: the result names the existing snapshot in ``duplicate_of``."""
    as_of_date = _as_date(as_of) if as_of is not None else None
    existing = store.find_snapshot_by_sha(hashlib.sha256(data).hexdigest())
    if existing is not None:
        return _duplicate_result(store, existing.id)
    parsed = _parse(
        data, file_name, source=source, mapping=mapping, rates=rates, date_order=date_order,
        max_bytes=max_bytes, recall=None if mapping else (lambda headers: remembered_mapping(store, headers)),
    )
    snapshot_as_of = as_of_date or parsed.as_of_guess or dt.datetime.now(dt.UTC).date()
    new = NewSnapshot(
        as_of=snapshot_as_of, source=parsed.source, file_name=file_name, sha256=parsed.sha256,
        rows_read=parsed.rows_read, mapping=parsed.mapping, detection=parsed.detection,
        warnings=parsed.warnings, label=label,
    )
    with _save_lock:
        existing = store.find_snapshot_by_sha(parsed.sha256)
        if existing is not None:
            return _duplicate_result(store, existing.id)
        snapshot = store.save_snapshot(new, parsed.deals, parsed.rejects, data)
    if mapping:
        remember_mapping(store, parsed.detection["headers"], parsed.source, mapping)
    return IngestResult(
        snapshot_id=snapshot.id, source=snapshot.source, as_of=snapshot.as_of, file_name=file_name,
        rows_read=snapshot.rows_read, rows_loaded=snapshot.rows_loaded, rows_rejected=snapshot.rows_rejected,
        rejects=_reject_list(parsed.rejects), warnings=parsed.warnings, mapping=parsed.mapping,
        detection=parsed.detection,
    )


def ingest_file(store: Store, path: str | Path, **options: Any) -> IngestResult:
    """``ingest_bytes`` for a file on disk; the snapshot keeps the file's name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read: {exc.strerror or exc}.") from None
    return ingest_bytes(store, data, path.name, **options)


def _duplicate_result(store: Store, snapshot_id: int) -> IngestResult:
    snapshot = store.get_snapshot(snapshot_id)
    return IngestResult(
        snapshot_id=snapshot.id, source=snapshot.source, as_of=snapshot.as_of, file_name=snapshot.file_name,
        rows_read=snapshot.rows_read, rows_loaded=snapshot.rows_loaded, rows_rejected=snapshot.rows_rejected,
        rejects=_reject_list(store.load_rejects(snapshot.id)),
        warnings=[f"{snapshot.file_name}: these exact bytes are already loaded as snapshot {snapshot.id}; "
                  "nothing was written."],
        duplicate_of=snapshot.id, mapping=snapshot.mapping, detection=snapshot.detection,
    )


def _reject_list(rejects: pd.DataFrame) -> list[Reject]:
    return [Reject(row=int(row), reason=str(reason))
            for row, reason in zip(rejects["row_number"], rejects["reason"], strict=True)]


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"as-of date {value!r} is not a date; use YYYY-MM-DD.") from None


# -- parsing ----------------------------------------------------------------------------

Recall = Callable[[list[str]], "tuple[str, dict[str, str]] | None"]


def _parse(
    data: bytes,
    file_name: str,
    *,
    source: str,
    mapping: dict[str, str] | None,
    rates: RateTable | None,
    date_order: str | None,
    max_bytes: int | None,
    recall: Recall | None = None,
) -> ParsedExport:
    if source != "auto" and source not in PRESET_NAMES:
        raise InputError(f"unknown source {source!r}; choose auto or one of {', '.join(PRESET_NAMES)}.")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise InputError(f"unknown date order {date_order!r}; choose one of {', '.join(DATE_ORDERS)}.")
    settings = get_settings()
    rates = rates or RateTable.default(settings.base_currency)
    limit = settings.max_upload_bytes if max_bytes is None else max_bytes
    sha256 = hashlib.sha256(data).hexdigest()
    con = duckdb.connect()
    try:
        raw = read_table(con, data, file_name, max_bytes=limit)
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
                missing=["deal_id or title"], found=raw.headers,
            )
        plan = _ColumnPlan(con, raw, used, preset.date_order if date_order is None else date_order,
                           preset.probability_scale, rates)
        report = {
            "source": chosen, "detected_source": detection.source, "evidence": detection.evidence,
            "scores": detection.scores, "kind": raw.kind, "encoding": raw.encoding, "delimiter": raw.delimiter,
            "header_row": raw.header_row, "headers": raw.headers, "header_signature": header_signature(raw.headers),
            "date_system": raw.date_system, "blank_rows": raw.blank_rows, "summary_rows": raw.summary_rows,
            **plan.report(),
        }
        warnings = [*raw.warnings, *plan.warnings]
        deals, rejects, rows_read, as_of_guess, row_warnings = _run(con, raw, plan)
    except duckdb.Error as exc:
        raise UnreadableFileError(f"{file_name}: cannot be parsed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return ParsedExport(
        file_name=file_name, sha256=sha256, source=chosen, deals=deals, rejects=rejects, rows_read=rows_read,
        mapping=used, detection=report, warnings=warnings + row_warnings, as_of_guess=as_of_guess,
    )


class _ColumnPlan:
    """The SQL for every canonical column and its error, decided from the file's values."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, raw: RawTable, mapping: dict[str, str], date_order: str,
        probability_scale: float | None, rates: RateTable,
    ) -> None:
        self.mapping = mapping
        self.rates = rates
        self.warnings: list[str] = []
        index = {header: position for position, header in enumerate(raw.headers)}
        self.cells = {canonical: cell(index[header]) for canonical, header in mapping.items()}
        self.unmapped = [header for header in raw.headers if header not in set(mapping.values())]
        self.extra_cells = {header: cell(index[header]) for header in self.unmapped}
        date_cells = {mapping[c]: self.cells[c] for c in DATE_COLUMNS if c in mapping}
        self.dates = profile_dates(con, raw.table, raw.keep, date_cells, date_order)
        number_cells = {mapping[c]: self.cells[c] for c in ("value", "probability") if c in mapping}
        self.marks = profile_decimal_marks(con, raw.table, raw.keep, number_cells,
                                           "," if raw.delimiter == ";" else ".")
        self.date_system = raw.date_system
        self.probability_scale = self._probability_scale(con, raw, probability_scale)
        for canonical, effect in MISSING_COLUMN_EFFECTS.items():
            if canonical not in mapping:
                self.warnings.append(f"No {canonical} column: {effect}.")
        if "value" in mapping and "currency" not in mapping:
            self.warnings.append(
                f"No currency column: values without a currency code or symbol are taken as {rates.base}."
            )
        for header, profile in self.dates.items():
            if profile.ambiguous:
                self.warnings.append(
                    f"Column {header!r}: dates could be day-first or month-first; read as "
                    f"{'day-first (D/M/Y)' if profile.order == 'dmy' else 'month-first (M/D/Y)'}."
                )
            if profile.mixed:
                self.warnings.append(f"Column {header!r}: {describe_date_order(profile)}.")

    def _probability_scale(self, con, raw: RawTable, preset_scale: float | None) -> float:
        if preset_scale is not None or "probability" not in self.cells:
            return preset_scale or 100
        s = self.cells["probability"]
        (largest,) = con.execute(
            f"SELECT max({number_sql(s, self.marks[self.mapping['probability']])}) FROM {raw.table} "
            f"WHERE {raw.keep} AND NOT coalesce({percent_sql(s)}, false)"
        ).fetchall()[0]
        return 100 if largest is not None and largest > 1 else 1

    def report(self) -> dict[str, Any]:
        return {
            "date_orders": {header: describe_date_order(p) for header, p in self.dates.items()},
            "ambiguous_columns": [header for header, p in self.dates.items() if p.ambiguous],
            "decimal_marks": self.marks,
            "probability_scale": self.probability_scale,
            "unmapped_columns": self.unmapped,
        }

    def _text(self, canonical: str) -> str:
        return self.cells.get(canonical, "NULL")

    def columns(self) -> dict[str, str]:
        """Canonical column -> SQL over the raw cells."""
        out = {canonical: self._text(canonical) for canonical in DEAL_COLUMNS if canonical not in ("value_base", "extra")}
        out["deal_id"] = f"coalesce({self._text('deal_id')}, {self._text('title')})"
        out["status"] = status_sql(self.cells.get("status"), self.cells.get("stage"))
        if "value" in self.cells:
            out["value"] = number_sql(self.cells["value"], self.marks[self.mapping["value"]])
        out["currency"] = self._currency_sql()
        if "probability" in self.cells:
            s = self.cells["probability"]
            number = number_sql(s, self.marks[self.mapping["probability"]])
            out["probability"] = (
                f"{number} / CASE WHEN {percent_sql(s)} THEN 100 ELSE {self.probability_scale} END"
            )
        for canonical in DATE_COLUMNS:
            if canonical in self.cells:
                profile = self.dates[self.mapping[canonical]]
                out[canonical] = date_sql(self.cells[canonical], profile, self.date_system)
        return out

    def _currency_sql(self) -> str:
        symbols = " ".join(f"WHEN {sql_literal(k.upper())} THEN {sql_literal(v)}" for k, v in CURRENCY_SYMBOLS.items())
        parts = []
        if "currency" in self.cells:
            code = f"upper({self.cells['currency']})"
            parts.append(f"CASE {code} {symbols} ELSE {code} END")
        if "value" in self.cells:
            parts.append(currency_in_value_sql(self.cells["value"]))
            if "currency" not in self.cells:
                parts.append(sql_literal(self.rates.base))
        return f"coalesce({', '.join(parts)})" if parts else "NULL"

    def value_base_sql(self) -> str:
        cases = " ".join(f"WHEN {sql_literal(code)} THEN {rate!r}" for code, rate in self.rates.rates.items())
        return f"value * CASE currency {cases} END" if "value" in self.cells else "CAST(NULL AS DOUBLE)"

    def errors(self) -> list[str]:
        """SQL expressions, one per check, each the reason text or NULL."""
        checks = []
        for canonical, what in (("value", "a number"), ("probability", "a probability")):
            if canonical in self.cells:
                s = self.cells[canonical]
                bad = f"{canonical} IS NULL" if canonical == "value" else f"NOT coalesce({canonical} BETWEEN 0 AND 1, false)"
                checks.append(f"CASE WHEN {s} IS NOT NULL AND {bad} THEN {reason_sql(self.mapping[canonical], s, what)} END")
        if "status" in self.cells:
            s = self.cells["status"]
            checks.append(f"CASE WHEN {s} IS NOT NULL AND status IS NULL THEN "
                          f"{reason_sql(self.mapping['status'], s, 'a status (Open, Won, Lost or Deleted)')} END")
        for canonical in DATE_COLUMNS:
            if canonical in self.cells:
                s = self.cells[canonical]
                checks.append(f"CASE WHEN {s} IS NOT NULL AND {canonical} IS NULL THEN "
                              f"{reason_sql(self.mapping[canonical], s, 'a date')} END")
        return checks

    def extra_sql(self) -> str:
        if not self.extra_cells:
            return "CAST('{}' AS JSON)"
        pairs = ", ".join(f"{sql_literal(h)}, {s}" for h, s in self.extra_cells.items())
        return f"json_object({pairs})"


def _run(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: _ColumnPlan):
    """Parse every row in SQL; return (deals, rejects, rows_read, as_of_guess, row warnings).

    Tables are dropped as soon as they are used up, to keep memory flat on big files.
    """
    columns = plan.columns()
    width = len(raw.headers)
    raw_cells = ", ".join(f"c{i}" for i in range(width))
    parsed_columns = ",\n".join(f"{sql} AS {name}" for name, sql in columns.items())
    checks = [
        f"CASE WHEN _overflow THEN 'row ' || _row || ' has more fields than the {width} columns of the header' END",
        "CASE WHEN deal_id IS NULL THEN 'row ' || _row || ' has no deal id or title' END",
        *plan.errors(),
    ]
    con.execute(
        f"""CREATE TABLE parsed AS
        SELECT * EXCLUDE ({raw_cells}, _overflow, _filled, _total), {plan.value_base_sql()} AS value_base,
               {plan.extra_sql()} AS extra, NULLIF(concat_ws('; ', {', '.join(checks)}), '') AS _reason
        FROM (SELECT rowid AS _rowid, {raw.row} AS _row, *, {parsed_columns} FROM {raw.table} WHERE {raw.keep})"""
    )
    con.execute(
        """CREATE TABLE duplicates AS SELECT deal_id, max(_row) AS kept FROM parsed
           WHERE _reason IS NULL GROUP BY deal_id HAVING count(*) > 1"""
    )
    id_header = plan.mapping.get("deal_id", plan.mapping.get("title"))
    duplicate_reason = (
        f"'row ' || p._row || ', column ' || {sql_literal(repr(id_header))} || ': duplicate deal id ' "
        "|| chr(39) || p.deal_id || chr(39) || ', row ' || d.kept || ' has the same id and is kept (the last one wins)'"
    )
    rejects = con.execute(
        f"""SELECT p._row AS row_number, {_raw_row_sql(width, raw.delimiter or ",")} AS raw,
                   coalesce(p._reason, {duplicate_reason}) AS reason
            FROM parsed p
            JOIN {raw.table} r ON r.rowid = p._rowid
            LEFT JOIN duplicates d ON d.deal_id = p.deal_id AND p._reason IS NULL
            WHERE p._reason IS NOT NULL OR (d.kept IS NOT NULL AND d.kept <> p._row)
            ORDER BY p._row"""
    ).df()
    con.execute(f"DROP TABLE {raw.table}")
    (rows_read, newest) = con.execute(
        "SELECT count(*), max(greatest(updated_at, created_at)) FILTER (WHERE _reason IS NULL) FROM parsed"
    ).fetchall()[0]
    warnings = _row_warnings(con, plan)
    select = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in DEAL_COLUMNS.items())
    (has_duplicates,) = con.execute("SELECT count(*) > 0 FROM duplicates").fetchall()[0]
    keep_last = (
        " AND NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.deal_id = p.deal_id AND d.kept <> p._row)"
        if has_duplicates else ""
    )
    deals = con.sql(f"SELECT {select} FROM parsed p WHERE _reason IS NULL{keep_last} ORDER BY _row").to_arrow_table()
    return deals, rejects, rows_read, newest, warnings


def _raw_row_sql(width: int, delimiter: str) -> str:
    """SQL rebuilding a source row as delimited text (quoting cells that need it)."""
    quoted = [
        f"CASE WHEN contains(coalesce(r.c{i}, ''), {sql_literal(delimiter)}) OR contains(coalesce(r.c{i}, ''), '\"') "
        f"OR contains(coalesce(r.c{i}, ''), chr(10)) THEN '\"' || replace(r.c{i}, '\"', '\"\"') || '\"' "
        f"ELSE coalesce(r.c{i}, '') END"
        for i in range(width)
    ]
    return f"concat_ws({sql_literal(delimiter)}, {', '.join(quoted)})"


def _row_warnings(con: duckdb.DuckDBPyConnection, plan: _ColumnPlan) -> list[str]:
    """One warning per currency that could not be converted, naming the rows."""
    rows = con.execute(
        f"""SELECT currency, count(*), list(_row ORDER BY _row)[1:{ROWS_SHOWN}]
            FROM parsed WHERE _reason IS NULL AND value IS NOT NULL AND value_base IS NULL
            GROUP BY currency ORDER BY currency NULLS FIRST"""
    ).fetchall()
    warnings = []
    for currency, count, examples in rows:
        where = ", ".join(str(row) for row in examples) + (f" and {count - len(examples)} more" if count > len(examples) else "")
        if currency is None:
            warnings.append(f"{count} row(s) have a value but no currency (rows {where}); value_base left empty.")
        else:
            warnings.append(
                f"Currency {currency!r} has no rate to {plan.rates.base}: value_base left empty on {count} row(s) "
                f"(rows {where}). Add a rate for {currency} to convert them."
            )
    return warnings
