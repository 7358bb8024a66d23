"""Invoice lists (CSV/XLSX) in, one snapshot of kind ``invoices`` out, with the deal ingest's guarantees.

The machinery is core.ingest's: ``read_table`` (file type, encoding, delimiter, header,
blank/total/footer rows), ``detect_source`` and ``resolve_mapping`` over the invoice
presets, and values.py's columnar SQL (date order decided per column from all its values,
decimal marks, currency codes and symbols). Only the schema and its checks are new:

- a row without an invoice number, invoice date or amount, or with a value that cannot be
  read (date, amount, disputed flag), is rejected naming row, column, value and reason;
- of rows sharing an invoice number the last wins and the others are rejected naming it;
- rows that load but need a word (paid before the invoice date, due before the invoice
  date, credit notes, paid or issued after the as-of date, no customer, no rate for the
  currency) are named in warnings; how the forecast treats them is said there.

Everything lands in one transaction (rows, rejects, raw bytes, counts); the same bytes
twice are reported as already loaded. Invoice numbers stay text, so ``00042`` keeps its zeros.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from core.currency import CURRENCY_SYMBOLS, RateTable
from core.ingest.cells import RawTable
from core.ingest.detect import detect_source
from core.ingest.errors import MissingColumnsError, UnreadableFileError
from core.ingest.mapping import resolve_mapping
from core.ingest.parse import ROWS_SHOWN, raw_row_sql, read_report
from core.ingest.presets import Preset
from core.ingest.readers import read_table
from core.ingest.results import IngestResult, Parse, Run
from core.ingest.save import IngestOptions, Upload, ingest_path, ingest_upload
from core.ingest.values import (
    cell,
    count_columns,
    currency_in_value_sql,
    date_sql,
    decimal_mark,
    describe_date_order,
    number_sql,
    profile_dates,
    reason_sql,
    repr_header,
    sql_literal,
)
from core.monitoring import observed_ingest
from core.receivables import KIND
from core.receivables.invoices import INVOICE_COLUMNS, INVOICE_DATE_COLUMNS, MAPPABLE_INVOICE_COLUMNS
from core.receivables.presets import INVOICE_PRESET_NAMES, INVOICE_PRESETS
from core.store import Store

RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE = "_invoice_raw", "_invoice_parsed", "_invoice_duplicates"
WORK_TABLES = (RAW_TABLE, PARSED_TABLE, DUPLICATES_TABLE)
REQUIRED_COLUMNS = ("invoice_id", "invoice_date", "amount")
#: Words of a ``disputed`` cell (lower case); a blank cell is not disputed.
DISPUTED_WORDS = ("yes", "y", "true", "t", "1", "disputed", "x")
UNDISPUTED_WORDS = ("no", "n", "false", "f", "0", "-")


def ingest_invoice_file(store: Store, path: str | Path, **options: Any) -> IngestResult:
    """``ingest_invoice_bytes`` for a file on disk; the snapshot keeps the file's name."""
    return ingest_path(ingest_invoice_bytes, store, path, options)


@observed_ingest("invoices")
def ingest_invoice_bytes(store: Store, data: bytes, file_name: str, **options: Any) -> IngestResult:
    """Parse an invoice list and save it as one ``invoices`` snapshot, atomically; ``options``
    are those of ``IngestOptions``, as for a deal export (``core.ingest.ingest_bytes``).

    ``as_of`` defaults to the newest invoice or paid date in the file. ``uploaded_by`` (the
    signed-in email, or ``cli:<user>``) is stored with the snapshot. Raises an
    IngestError subclass when the file cannot be read at all (nothing is written).
    """
    return ingest_upload(store, data, file_name, KIND, IngestOptions(**options), _load, WORK_TABLES)


def _load(upload: Upload) -> IngestResult:
    """Parse an invoice list on the upload's cursor and save it, with warnings naming the rows
    that need a word as of the snapshot's date."""
    parse, base = _parse(upload.cursor, upload.data, upload.file_name, upload.options)
    as_of = upload.snapshot_as_of(parse.as_of_guess)
    parse.warnings = [*parse.warnings, *_row_warnings(upload.cursor, parse.rows_sql, as_of, base)]
    return upload.save(parse, "invoices")


def _parse(
    con: duckdb.DuckDBPyConnection, data: bytes, file_name: str, options: IngestOptions
) -> tuple[Parse, str]:
    """The parse of an invoice list into temporary tables of ``con``, and the base currency."""
    options.check(INVOICE_PRESET_NAMES, "invoice source")
    rates = options.rate_table()
    try:
        raw = read_table(
            con, data, file_name, max_bytes=options.byte_limit(), table=RAW_TABLE, path=options.file_path()
        )
        detection = detect_source(raw.headers, INVOICE_PRESETS)
        chosen = detection.source if options.source == "auto" else options.source
        preset = INVOICE_PRESETS[chosen]
        used = resolve_mapping(
            preset,
            raw.headers,
            options.mapping,
            file_name,
            columns=MAPPABLE_INVOICE_COLUMNS,
            kind="an invoice",
        )
        missing = [name for name in REQUIRED_COLUMNS if name not in used]
        if missing:
            raise MissingColumnsError(
                f"{file_name}: no {', '.join(missing)} column found (looked for the {chosen} names, e.g. "
                f"{', '.join(repr(_example(preset, name)) for name in missing)})."
                f" Columns found: {', '.join(raw.headers)}. Map them with --map "
                + " ".join(f"{name}='Column'" for name in missing)
                + ".",
                missing=missing,
                found=raw.headers,
            )
        plan = _InvoicePlan(con, raw, used, options.date_order or preset.date_order, rates)
        run = _run(con, raw, plan)
    except duckdb.Error as exc:
        raise UnreadableFileError(f"{file_name}: cannot be parsed: {str(exc).splitlines()[0]}") from None
    parse = Parse(
        source=chosen,
        mapping=used,
        detection=read_report(raw, detection, chosen, plan.report()),
        warnings=[*raw.warnings, *plan.warnings],
        rejects=run.rejects,
        rows_read=run.rows_read,
        as_of_guess=run.as_of_guess,
        rows_sql=run.rows_sql,
    )
    return parse, rates.base


def _example(preset: Preset, canonical: str) -> str:
    """A header the preset reads ``canonical`` from, as users write it (not the snake_case name)."""
    names = preset.columns[canonical]
    return next((name for name in names if name != canonical), names[0])


class _InvoicePlan:
    """The SQL of every canonical invoice column and its checks, decided from the file's values."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw: RawTable,
        mapping: dict[str, str],
        order: str,
        rates: RateTable,
    ) -> None:
        self.mapping, self.rates, self.raw = mapping, rates, raw
        index = {header: position for position, header in enumerate(raw.headers)}
        self.cells = {canonical: cell(index[header]) for canonical, header in mapping.items()}
        self.unmapped = [header for header in raw.headers if header not in set(mapping.values())]
        date_cells = {mapping[c]: self.cells[c] for c in INVOICE_DATE_COLUMNS if c in mapping}
        amount = mapping["amount"]
        counts = count_columns(con, raw.table, raw.keep, date_cells, {amount: self.cells["amount"]})
        self.dates = profile_dates(con, raw.table, raw.keep, date_cells, order, counts.date_leftovers)
        default_mark = "," if raw.delimiter == ";" else "."
        self.mark = decimal_mark(counts.decimal_points[amount], counts.decimal_commas[amount], default_mark)
        self.warnings = [
            f"Column {header!r}: {describe_date_order(profile)}."
            for header, profile in self.dates.items()
            if profile.ambiguous or profile.mixed
        ]
        if "currency" not in mapping:
            self.warnings.append(
                f"No currency column: amounts without a currency code or symbol are taken as {rates.base}."
            )

    def report(self) -> dict[str, Any]:
        return {
            "date_orders": {header: describe_date_order(p) for header, p in self.dates.items()},
            "ambiguous_columns": [header for header, p in self.dates.items() if p.ambiguous],
            "decimal_marks": {self.mapping["amount"]: self.mark},
            "unmapped_columns": self.unmapped,
        }

    def _text(self, canonical: str) -> str:
        return self.cells.get(canonical, "NULL")

    def columns(self) -> dict[str, str]:
        """Canonical column (but ``amount_base`` and ``extra``) -> SQL over the raw cells."""
        out = {name: self._text(name) for name in ("invoice_id", "customer", "deal_id")}
        for name in INVOICE_DATE_COLUMNS:
            out[name] = (
                date_sql(self.cells[name], self.dates[self.mapping[name]], self.raw.date_system)
                if name in self.cells
                else "CAST(NULL AS DATE)"
            )
        out["amount"] = number_sql(self.cells["amount"], self.mark)
        out["currency"] = self._currency_sql()
        out["disputed"] = self._disputed_sql()
        return out

    def _currency_sql(self) -> str:
        symbols = " ".join(
            f"WHEN {sql_literal(k.upper())} THEN {sql_literal(v)}" for k, v in CURRENCY_SYMBOLS.items()
        )
        amount = self.cells["amount"]
        parts = [currency_in_value_sql(amount)]
        if "currency" in self.cells:
            code = f"upper({self.cells['currency']})"
            parts.insert(0, f"CASE {code} {symbols} ELSE {code} END")
        else:
            parts.append(f"CASE WHEN {amount} IS NOT NULL THEN {sql_literal(self.rates.base)} END")
        return f"coalesce({', '.join(parts)})"

    def _disputed_sql(self) -> str:
        if "disputed" not in self.cells:
            return "false"
        s = f"lower({self.cells['disputed']})"
        yes = ", ".join(sql_literal(w) for w in DISPUTED_WORDS)
        no = ", ".join(sql_literal(w) for w in UNDISPUTED_WORDS)
        return f"CASE WHEN {s} IS NULL OR {s} IN ({no}) THEN false WHEN {s} IN ({yes}) THEN true END"

    def amount_base_sql(self) -> str:
        cases = " ".join(f"WHEN {sql_literal(code)} THEN {rate!r}" for code, rate in self.rates.rates.items())
        return f"amount * CASE currency {cases} END"

    def checks(self) -> list[str]:
        """SQL expressions, one per check, each the reason text or NULL."""
        width = len(self.raw.headers)

        def header(canonical: str) -> str:
            return sql_literal(repr_header(self.mapping[canonical]))

        checks = [
            f"CASE WHEN _overflow THEN 'row ' || _row || ' has more fields than the {width} columns "
            "of the header' END",
            f"CASE WHEN invoice_id IS NULL THEN 'row ' || _row || ', column ' || {header('invoice_id')} "
            "|| ': no invoice number' END",
        ]
        for name, what in (("invoice_date", "no invoice date"), ("amount", "no amount")):
            checks.append(
                f"CASE WHEN {self.cells[name]} IS NULL THEN 'row ' || _row || ', column ' || "
                f"{header(name)} || ': {what}' END"
            )
        for name in INVOICE_DATE_COLUMNS:
            if name in self.cells:
                s = self.cells[name]
                checks.append(
                    f"CASE WHEN {s} IS NOT NULL AND {name} IS NULL THEN "
                    f"{reason_sql(self.mapping[name], s, 'a date')} END"
                )
        s = self.cells["amount"]
        bad_amount = reason_sql(self.mapping["amount"], s, "a number")
        checks.append(f"CASE WHEN {s} IS NOT NULL AND amount IS NULL THEN {bad_amount} END")
        if "disputed" in self.cells:
            s = self.cells["disputed"]
            checks.append(
                f"CASE WHEN disputed IS NULL THEN "
                f"{reason_sql(self.mapping['disputed'], s, 'yes or no (yes/no, true/false, 1/0)')} END"
            )
        return checks

    def extra_sql(self) -> str:
        if not self.unmapped:
            return "CAST('{}' AS JSON)"
        index = {header: position for position, header in enumerate(self.raw.headers)}
        pairs = ", ".join(f"{sql_literal(h)}, {cell(index[h])}" for h in self.unmapped)
        return f"json_object({pairs})"


def _run(con: duckdb.DuckDBPyConnection, raw: RawTable, plan: _InvoicePlan) -> Run:
    """Parse every row into the temporary parsed table; ``rows_sql`` of the run selects the
    invoices to load, with their source row as ``_row``."""
    width = len(raw.headers)
    raw_cells = ", ".join(f"c{i}" for i in range(width))
    parsed = ",\n".join(f"{sql} AS {name}" for name, sql in plan.columns().items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {PARSED_TABLE} AS
        SELECT * EXCLUDE ({raw_cells}, _overflow, _filled, _total), {plan.amount_base_sql()} AS amount_base,
               {plan.extra_sql()} AS extra, NULLIF(concat_ws('; ', {", ".join(plan.checks())}), '') AS _reason
        FROM (SELECT rowid AS _rowid, {raw.row} AS _row, *, {parsed} FROM {raw.table} WHERE {raw.keep})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {DUPLICATES_TABLE} AS
            SELECT invoice_id, max(_row) AS kept FROM {PARSED_TABLE}
            WHERE _reason IS NULL GROUP BY invoice_id HAVING count(*) > 1"""
    )
    duplicate_reason = (
        f"'row ' || p._row || ', column ' || {sql_literal(repr(plan.mapping['invoice_id']))} "
        "|| ': duplicate invoice number ' || chr(39) || p.invoice_id || chr(39) || ', row ' || d.kept "
        "|| ' has the same number and is kept (the last one wins)'"
    )
    rejects = con.sql(
        f"""SELECT p._row AS row_number, {raw_row_sql(width, raw.delimiter or ",")} AS raw,
                   coalesce(p._reason, {duplicate_reason}) AS reason
            FROM {PARSED_TABLE} p
            JOIN {raw.table} r ON r.rowid = p._rowid
            LEFT JOIN {DUPLICATES_TABLE} d ON d.invoice_id = p.invoice_id AND p._reason IS NULL
            WHERE p._reason IS NOT NULL OR (d.kept IS NOT NULL AND d.kept <> p._row)
            ORDER BY p._row"""
    ).to_arrow_table()
    con.execute(f"DROP TABLE {raw.table}")
    rows_read, newest = con.execute(
        f"""SELECT count(*), max(greatest(invoice_date, paid_date)) FILTER (WHERE _reason IS NULL)
            FROM {PARSED_TABLE}"""
    ).fetchall()[0]
    select = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in INVOICE_COLUMNS.items())
    rows_sql = (
        f"SELECT _row, {select} FROM {PARSED_TABLE} p WHERE _reason IS NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {DUPLICATES_TABLE} d"
        " WHERE d.invoice_id = p.invoice_id AND d.kept <> p._row) ORDER BY _row"
    )
    return Run(rejects, rows_read, newest, rows_sql)


def _conditions(as_of: dt.date, base: str) -> list[tuple[str, str]]:
    """(SQL condition over a loaded invoice, what it means) for the warnings naming rows."""
    day = f"DATE '{as_of.isoformat()}'"
    return [
        (
            "paid_date < invoice_date",
            "paid before their invoice date: kept as paid, not used to learn payment behaviour",
        ),
        (
            "due_date < invoice_date",
            "due before their invoice date: the due date is ignored (invoice date + default terms instead)",
        ),
        ("amount < 0", "with negative amounts (credit notes): kept, counted as negative cash"),
        (
            f"paid_date > {day}",
            f"paid after the as-of date {as_of}: treated as open at {as_of} (nothing later is known then)",
        ),
        (
            f"invoice_date > {day}",
            f"dated after the as-of date {as_of}: not yet issued then, left out of forecasts as of {as_of}",
        ),
        ("customer IS NULL", "without a customer: the global payment behaviour is used"),
        (
            "amount_base IS NULL",
            f"in a currency without a rate to {base}: amount_base left empty, left out of cash totals",
        ),
    ]


def _row_warnings(con: duckdb.DuckDBPyConnection, rows_sql: str, as_of: dt.date, base: str) -> list[str]:
    """One warning per kind of loaded row that needs a word, naming its first rows."""
    conditions = _conditions(as_of, base)
    parts = ", ".join(
        f"count(*) FILTER (WHERE {condition}), "
        f"list(_row ORDER BY _row) FILTER (WHERE {condition})[1:{ROWS_SHOWN}]"
        for condition, _ in conditions
    )
    row = con.execute(f"SELECT {parts} FROM ({rows_sql})").fetchall()[0]
    warnings = []
    for position, (_, meaning) in enumerate(conditions):
        count, examples = row[2 * position], row[2 * position + 1]
        if count:
            where = ", ".join(str(r) for r in examples) + (
                f" and {count - len(examples)} more" if count > len(examples) else ""
            )
            warnings.append(f"{count} invoice(s) {meaning} (rows {where}).")
    return warnings
