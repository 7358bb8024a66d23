"""The SQL for every canonical column of one file, decided from the file's own values.

``ColumnPlan`` looks at the mapped columns once (how each date column is written, which
decimal mark each number column uses, whether probabilities are percentages) and then
hands out SQL: one expression per canonical column, one check per parsed column (the
condition that rejects a row and the reason it gives), and the JSON of the unmapped
columns for ``extra``. A plan made from the first rows of a file says, through
``holds_for``, whether the counts of all its rows lead to the same decisions. When DuckDB's
reader converts the number columns and the plainly written ISO date columns (``typed_cells``),
the SQL reads them as given and ``holds_beside_typed_numbers`` checks the decisions from the
rows it refused.
"""

from __future__ import annotations

from typing import Any

import duckdb

from core.currency import CURRENCY_SYMBOLS, RateTable
from core.deals import DATE_COLUMNS, DEAL_COLUMNS
from core.ingest.cells import RawTable
from core.ingest.values import (
    ColumnCounts,
    DateProfile,
    cell,
    count_columns,
    count_inputs,
    currency_in_value_sql,
    date_sql,
    decimal_mark,
    describe_date_order,
    number_sql,
    percent_sql,
    profile_dates,
    reason_sql,
    sql_literal,
    status_sql,
    sum_counts,
)

#: How DuckDB's reader converts an ISO date column in a direct load: type -> (the shape, as SQL
#: ``LIKE``, of every sample value of a column it is used for; the ``read_csv`` option and the
#: format it reads them by). Values written otherwise are refused by the reader and parsed
#: from their text.
TYPED_DATES = {
    "DATE": ("____-__-__", "dateformat", "%Y-%m-%d"),
    "TIMESTAMP": ("____-__-__ __:__:__", "timestampformat", "%Y-%m-%d %H:%M:%S"),
}
#: The dates a converted date cell may hold for the row to load directly. By those formats the
#: reader also reads what the text parse refuses: 'epoch' and 'infinity' as 1900-01-01, years
#: of one to three digits ('24-01-05' as the year 24), and a date beside a tab, vertical tab,
#: form feed or carriage return (which no file the dates are converted for holds); inside
#: this range it reads exactly what the text parse does (tests/ingest/test_ingest_direct.py
#: compares them on generated values). A date outside it stops the direct load and the full
#: parse reads the file.
TYPED_DATE_RANGE = "DATE '1901-01-01' AND DATE '9999-12-31'"

#: Columns whose absence is worth a warning, with what it means for the deals.
MISSING_COLUMN_EFFECTS = {
    "stage": "every deal is at an unknown stage",
    "status": "deals are open unless their stage says won or lost",
    "value": "deal values are empty",
}


def _probability_scale(counts: ColumnCounts, header: str | None, preset_scale: float | None) -> float:
    """100 when plain probabilities are percentages (75), 1 when fractions (0.75).

    Values up to 1 with some strictly between 0 and 1 are fractions whatever the preset
    says (a spreadsheet's percent-formatted cell holds 0.75); otherwise the preset's scale,
    else percentages when any value is above 1."""
    if header is None:
        return preset_scale or 100
    largest, fractions = counts.largest_plain[header], counts.fractions[header]
    if largest is not None and largest <= 1 and fractions:
        return 1
    if preset_scale is not None:
        return preset_scale
    return 100 if largest is not None and largest > 1 else 1


class ColumnPlan:
    """The SQL for every canonical column and its error, decided from the file's values."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw: RawTable,
        mapping: dict[str, str],
        *,
        date_order: str,
        probability_scale: float | None,
        rates: RateTable,
    ) -> None:
        self.mapping = mapping
        self.rates = rates
        self.date_system = raw.date_system
        self.headers = raw.headers
        self.warnings: list[str] = []
        index = {header: position for position, header in enumerate(raw.headers)}
        self.cells = {canonical: cell(index[header]) for canonical, header in mapping.items()}
        self.unmapped = [header for header in raw.headers if header not in set(mapping.values())]
        self.date_cells = {mapping[c]: self.cells[c] for c in DATE_COLUMNS if c in mapping}
        self.number_cells = {mapping[c]: self.cells[c] for c in ("value", "probability") if c in mapping}
        self._default_mark = "," if raw.delimiter == ";" else "."
        self._preset_scale = probability_scale
        self._date_order = date_order
        counts = count_columns(con, raw.table, raw.keep, self.date_cells, self.number_cells)
        self.dates = profile_dates(
            con, raw.table, raw.keep, self.date_cells, date_order, counts.date_leftovers
        )
        self.marks, self.probability_scale = self._number_decisions(counts)
        probability = mapping.get("probability")
        self._scale_settled = probability is None or (counts.largest_plain[probability] or 0) > 1
        self._warn_about(mapping)

    def _number_decisions(self, counts: ColumnCounts) -> tuple[dict[str, str], float]:
        """(decimal mark per number column, probability scale) that ``counts`` point to."""
        marks = {
            header: decimal_mark(
                counts.decimal_points[header], counts.decimal_commas[header], self._default_mark
            )
            for header in self.number_cells
        }
        return marks, _probability_scale(counts, self.mapping.get("probability"), self._preset_scale)

    def check_inputs(self) -> dict[str, str]:
        """Per-row SQL (by column name) that ``holds_for`` adds up: the number columns' count
        inputs."""
        return count_inputs({}, self.number_cells)

    @property
    def iso_dates(self) -> bool:
        """Whether every date column was read as plain ISO (the only dates ``holds_for`` checks)."""
        return all(profile == DateProfile(order="iso") for profile in self.dates.values())

    @property
    def reads_typed_numbers(self) -> bool:
        """Whether rows whose numbers DuckDB's reader converts (``typed_cells``) may be read
        by this plan without counting them: its dates are ISO, its numbers use the decimal
        point (plain numbers never count as decimal commas) and its probability scale is
        settled (a sample value above 1 settles it whatever the other rows hold)."""
        return (
            self.iso_dates and all(mark == "." for mark in self.marks.values()) and self._scale_settled
        )

    def typed_cells(self, con: duckdb.DuckDBPyConnection, table: str, *, dates: bool) -> dict[str, str]:
        """The cells DuckDB's reader converts (cell -> type) for ``columns(typed)``: the number
        cells to DOUBLE and, when ``dates`` (the file holds no control whitespace, see
        ``holds_control_whitespace``), each date cell of an ISO plan whose values in ``table``
        (the sample) are all written in one of the ``TYPED_DATES`` shapes, some at least, to
        its type."""
        typed = dict.fromkeys(self.number_cells.values(), "DOUBLE")
        if not (dates and self.iso_dates and self.date_cells):
            return typed
        cells = list(self.date_cells.values())
        kind_sql = [
            "CASE "
            + " ".join(f"WHEN bool_and({s} LIKE {sql_literal(shape)}) THEN {sql_literal(kind)}"
                       for kind, (shape, _, _) in TYPED_DATES.items())
            + " END"
            for s in cells
        ]
        kinds = con.execute(f"SELECT {', '.join(kind_sql)} FROM {table}").fetchall()[0]
        typed.update({s: kind for s, kind in zip(cells, kinds, strict=True) if kind})
        return typed

    def holds_for(self, con: duckdb.DuckDBPyConnection, table: str, where: str, rejected: str) -> bool:
        """Whether all rows of ``table`` matching ``where`` (which holds ``check_inputs``) lead
        to this plan's decisions; ``rejected`` is SQL for the raw cells (``c0``...) of those
        rows that a check rejected."""
        if not self.iso_dates:
            return False
        counts = sum_counts(con, table, where, {}, self.number_cells)
        return self._rejected_dates_iso(con, rejected) and self._number_decisions(counts) == (
            self.marks,
            self.probability_scale,
        )

    def holds_beside_typed_numbers(
        self, con: duckdb.DuckDBPyConnection, table: str, where: str, rejected: str
    ) -> bool:
        """``holds_for`` when the file's other rows were read with ``typed_cells``: ``table``
        holds only the rows whose numbers the reader could not convert."""
        if not self.reads_typed_numbers:
            return False
        counts = sum_counts(con, table, where, {}, self.number_cells)
        return self._rejected_dates_iso(con, rejected) and not any(counts.decimal_commas.values())

    def _rejected_dates_iso(self, con: duckdb.DuckDBPyConnection, rejected: str) -> bool:
        """Whether the dates of rejected rows (SQL for their cells) leave every column ISO.

        Under an ISO plan a value that would profile its column otherwise (day-first, serial,
        a month name) does not parse, so its row is rejected: profiling the rejected rows'
        dates settles all rows. That may see a non-date that merely looks like one, which
        only costs the slower path."""
        every_column = dict.fromkeys(self.date_cells, 1)
        dates = profile_dates(con, rejected, "true", self.date_cells, self._date_order, every_column)
        return all(profile == DateProfile(order="iso") for profile in dates.values())

    def _warn_about(self, mapping: dict[str, str]) -> None:
        for canonical, effect in MISSING_COLUMN_EFFECTS.items():
            if canonical not in mapping:
                self.warnings.append(f"No {canonical} column: {effect}.")
        if "value" in mapping and "currency" not in mapping:
            self.warnings.append(
                "No currency column: values without a currency code or symbol are taken as "
                f"{self.rates.base}."
            )
        for header, profile in self.dates.items():
            if profile.ambiguous or profile.mixed:
                self.warnings.append(f"Column {header!r}: {describe_date_order(profile)}.")

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

    def columns(self, typed: dict[str, str] | None = None) -> dict[str, str]:
        """Canonical column -> SQL over the raw cells; the cells in ``typed`` (``typed_cells``)
        come converted by DuckDB's reader: numbers to DOUBLE (plain numbers, with no symbol,
        separator or percent sign), ISO dates to DATE or TIMESTAMP."""
        typed = typed or {}
        out = {
            canonical: self._text(canonical)
            for canonical in DEAL_COLUMNS
            if canonical not in ("value_base", "extra")
        }
        out["deal_id"] = f"coalesce({self._text('deal_id')}, {self._text('title')})"
        out["status"] = status_sql(self.cells.get("status"), self.cells.get("stage"))
        if "value" in self.cells:
            s = self.cells["value"]
            out["value"] = s if s in typed else number_sql(s, self.marks[self.mapping["value"]])
        out["currency"] = self._currency_sql(typed)
        if "probability" in self.cells:
            s = self.cells["probability"]
            if s in typed:
                out["probability"] = f"{s} / {self.probability_scale}"
            else:
                number = number_sql(s, self.marks[self.mapping["probability"]])
                out["probability"] = (
                    f"{number} / CASE WHEN {percent_sql(s)} THEN 100 ELSE {self.probability_scale} END"
                )
        for canonical in DATE_COLUMNS:
            if canonical in self.cells:
                s, profile = self.cells[canonical], self.dates[self.mapping[canonical]]
                read = date_sql(s, profile, self.date_system)
                out[canonical] = f"CAST({s} AS DATE)" if s in typed else read
        return out

    def _currency_sql(self, typed: dict[str, str]) -> str:
        symbols = " ".join(
            f"WHEN {sql_literal(k.upper())} THEN {sql_literal(v)}" for k, v in CURRENCY_SYMBOLS.items()
        )
        parts = []
        if "currency" in self.cells:
            code = f"upper({self.cells['currency']})"
            parts.append(f"CASE {code} {symbols} ELSE {code} END")
        if "value" in self.cells:
            if self.cells["value"] not in typed:  # a converted number carries no currency
                parts.append(currency_in_value_sql(self.cells["value"]))
            if "currency" not in self.cells:
                parts.append(
                    f"CASE WHEN {self.cells['value']} IS NOT NULL THEN {sql_literal(self.rates.base)} END"
                )
        return f"coalesce({', '.join(parts)})" if parts else "NULL"

    def value_base_sql(self) -> str:
        cases = " ".join(f"WHEN {sql_literal(code)} THEN {rate!r}" for code, rate in self.rates.rates.items())
        return f"value * CASE currency {cases} END" if "value" in self.cells else "CAST(NULL AS DOUBLE)"

    def checks(self, typed: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """(SQL condition that rejects a row, SQL of the reason it gives), one per check. With
        ``typed`` cells (see ``columns``) only the conditions hold: the reasons quote text."""
        typed = typed or {}
        checks = []
        for canonical, what in (("value", "a number"), ("probability", "a probability")):
            if canonical in self.cells:
                s = self.cells[canonical]
                if canonical == "probability":
                    bad = f"NOT coalesce({canonical} BETWEEN 0 AND 1, false)"
                else:  # the reader converts inf and nan, which the text parse refuses
                    bad = f"NOT isfinite({canonical})" if s in typed else f"{canonical} IS NULL"
                checks.append((f"{s} IS NOT NULL AND {bad}", reason_sql(self.mapping[canonical], s, what)))
        if "status" in self.cells:
            s = self.cells["status"]
            checks.append(
                (
                    f"{s} IS NOT NULL AND status IS NULL",
                    reason_sql(self.mapping["status"], s, "a status (Open, Won, Lost or Deleted)"),
                )
            )
        for canonical in DATE_COLUMNS:
            if canonical in self.cells:
                s = self.cells[canonical]
                reason = reason_sql(self.mapping[canonical], s, "a date")
                bad = f"NOT {canonical} BETWEEN {TYPED_DATE_RANGE}" if s in typed else f"{canonical} IS NULL"
                checks.append((f"{s} IS NOT NULL AND {bad}", reason))
        return checks

    def extra_sql(self) -> str:
        if not self.unmapped:
            return "CAST('{}' AS JSON)"
        index = {header: position for position, header in enumerate(self.headers)}
        pairs = ", ".join(f"{sql_literal(h)}, {cell(index[h])}" for h in self.unmapped)
        return f"json_object({pairs})"
