"""Columnar value parsing: SQL that turns text cells into dates, numbers and statuses.

Each parser is a SQL expression over a trimmed text cell ``s`` (NULL when blank: a blank
value is never an error), evaluated by DuckDB over the whole column. The common shape
takes a fast path first (``TRY_CAST`` of ISO dates and plain numbers) and only tries the
slower patterns on what is left.

Date order is decided per column from all its values, never per cell: a column with a
first part above 12 is day-first, one with a second part above 12 month-first; when
neither appears the column is ambiguous and the preset's (or user's) order is used and
reported. Numbers decide their decimal mark the same way (``1.234,56`` vs ``1,234.56``).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from core.currency import CURRENCY_SYMBOLS

DATE_ORDERS = ("dmy", "mdy")

_DM = r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})([ T].*)?$"
_YMD_SLASH = r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})([ T].*)?$"
_SERIAL = r"^\d{4,6}(\.\d+)?$"
#: Excel serials accepted as dates: 1927-05-18 .. 2173-10-14 in the 1900 system.
_SERIAL_RANGE = (10000, 100000)
_TEXT_MONTH_FORMATS = (
    "%d-%b-%Y",
    "%d %b %Y",
    "%d-%b-%y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%d-%b-%Y %H:%M",
    "%b %d, %Y %I:%M %p",
)
#: Two-digit years below this are 20xx, the rest 19xx.
TWO_DIGIT_YEAR_PIVOT = 70

_CURRENCY_TOKEN = r"[A-Za-z]{3}|US\$|[$€£﷼]|SR"
_NUMBER = (
    rf"^\s*(\()?\s*([-+])?\s*({_CURRENCY_TOKEN})?\s*([-+])?\s*(\d[\d\s.,'’\x{{00a0}}\x{{202f}}]*)"
    rf"\s*({_CURRENCY_TOKEN})?\s*(%)?\s*(\))?\s*$"
)
_NUMBER_PARTS = ("open", "sign1", "cur1", "sign2", "digits", "cur2", "pct", "close")
_GROUPED = {".": r"^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$", ",": r"^(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"}

#: Status words (lower case) -> canonical status; stage names that mean won or lost too.
STATUS_WORDS: dict[str, str] = {
    "open": "open",
    "active": "open",
    "in progress": "open",
    "won": "won",
    "closed won": "won",
    "closedwon": "won",
    "closed - won": "won",
    "closed-won": "won",
    "lost": "lost",
    "closed lost": "lost",
    "closedlost": "lost",
    "closed - lost": "lost",
    "closed-lost": "lost",
    "deleted": "deleted",
}
_STAGE_STATUS = {word: status for word, status in STATUS_WORDS.items() if status in ("won", "lost")}


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def cell(index: int) -> str:
    """SQL for the text of raw column ``index`` (the reader trims it; NULL when blank)."""
    return f"c{index}"


def reason_sql(header: str, s: str, what: str) -> str:
    """SQL for ``row N, column 'H': 'value' is not <what>``."""
    return (
        f"'row ' || _row || ', column ' || {sql_literal(repr_header(header))} || ': ' || "
        f"'''' || {s} || ''' is not ' || {sql_literal(what)}"
    )


def repr_header(header: str) -> str:
    return f"'{header}'"


# -- dates ------------------------------------------------------------------------------


@dataclass
class DateProfile:
    """What one date column holds and how it is read."""

    order: str  # "iso", "dmy", "mdy", or "serial" when that is all it holds
    ambiguous: bool = False
    mixed: bool = False
    has_dm: bool = False
    has_ymd_slash: bool = False
    has_serial: bool = False
    has_text_month: bool = False


def profile_dates(
    con: duckdb.DuckDBPyConnection,
    table: str,
    where: str,
    columns: dict[str, str],
    default_order: str,
    leftovers: dict[str, int],
) -> dict[str, DateProfile]:
    """Decide per column (header -> SQL cell) how its dates are written, from all its values.

    ``leftovers`` counts each column's values that are not ISO dates (from ``profile_columns``);
    only columns with some are examined further, and only those values.
    """
    profiles = {header: DateProfile(order="iso") for header in columns}
    detail = [(header, s) for header, s in columns.items() if leftovers.get(header)]
    if not detail:
        return profiles
    parts = []
    for _, s in detail:
        first = f"TRY_CAST(regexp_extract({s}, '{_DM}', 1) AS INTEGER)"
        second = f"TRY_CAST(regexp_extract({s}, '{_DM}', 2) AS INTEGER)"
        parts += [
            f"count(*) FILTER (WHERE regexp_matches({s}, '{_DM}'))",
            f"count(*) FILTER (WHERE {first} > 12)",
            f"count(*) FILTER (WHERE {second} > 12)",
            f"count(*) FILTER (WHERE regexp_matches({s}, '{_YMD_SLASH}'))",
            f"count(*) FILTER (WHERE regexp_matches({s}, '{_SERIAL}'))",
            f"count(*) FILTER (WHERE regexp_matches({s}, '[A-Za-z]{{3}}'))",
        ]
    where_left = " OR ".join(f"({s} IS NOT NULL AND {_not_iso(s)})" for _, s in detail)
    row = con.execute(f"SELECT {', '.join(parts)} FROM {table} WHERE {where} AND ({where_left})").fetchall()[
        0
    ]
    for position, (header, _) in enumerate(detail):
        dm, day_first, month_first, ymd_slash, serial, text_month = row[position * 6 : (position + 1) * 6]
        profile = profiles[header]
        profile.has_dm, profile.has_ymd_slash = dm > 0, ymd_slash > 0
        profile.has_serial, profile.has_text_month = serial > 0, text_month > 0
        if dm:
            if day_first and not month_first:
                profile.order = "dmy"
            elif month_first and not day_first:
                profile.order = "mdy"
            elif day_first and month_first:
                profile.order, profile.mixed = ("dmy" if day_first >= month_first else "mdy"), True
            else:
                profile.order, profile.ambiguous = default_order, True
        elif serial and not (ymd_slash or text_month):
            profile.order = "serial"
    return profiles


@dataclass
class ColumnCounts:
    """One scan's worth of facts about the mapped columns, for the decisions that follow."""

    date_leftovers: dict[str, int]  # header -> values not shaped like ISO dates
    decimal_points: dict[str, int]  # header -> values that show "." as the decimal mark
    decimal_commas: dict[str, int]  # header -> values that show "," as the decimal mark
    largest_plain: dict[str, float | None]  # header -> largest plain number (no %, no symbols)
    fractions: dict[str, int]  # header -> plain numbers strictly between 0 and 1


def count_inputs(dates: dict[str, str], numbers: dict[str, str]) -> dict[str, str]:
    """Per-row SQL behind ``ColumnCounts`` for the mapped date and number columns (header ->
    SQL cell), by column name (``_k0``...): ``sum_counts`` adds them up, wherever they were
    computed. Cheap casts go first; regexes only see the values the casts could not read."""
    comma = r",\d{1,2}\D*$|,\d{4,}\D*$|\.\d{3},\d"
    point = r"\.\d{1,2}\D*$|\.\d{4,}\D*$|,\d{3}\.\d"
    # Shape only (YYYY-MM-DD...): cheaper than a cast; ISO-shaped values that are not real
    # dates are rejected by the parse itself.
    parts = [f"({s} IS NOT NULL AND NOT {s} LIKE '____-__-%')" for s in dates.values()]
    for s in numbers.values():
        plain = f"TRY_CAST({s} AS DOUBLE)"
        # A plain number is ASCII, so bytes count its digits; it has a decimal point with
        # other than three digits after it (no point: strpos is 0).
        parts += [
            f"CASE WHEN {plain} IS NOT NULL THEN strlen({s}) - strpos({s}, '.') NOT IN (3, strlen({s})) "
            f"ELSE regexp_matches({s}, '{point}') END",
            f"CASE WHEN {plain} IS NULL THEN regexp_matches({s}, '{comma}') ELSE false END",
            plain,
        ]
    return {f"_k{i}": sql for i, sql in enumerate(parts)}


def sum_counts(
    con: duckdb.DuckDBPyConnection, table: str, where: str, dates: dict[str, str], numbers: dict[str, str]
) -> ColumnCounts:
    """``ColumnCounts`` of the rows of ``table`` matching ``where``, from the columns of
    ``count_inputs(dates, numbers)`` that ``table`` holds."""
    if not dates and not numbers:
        return ColumnCounts({}, {}, {}, {}, {})
    aggregates = [f"count(*) FILTER (WHERE _k{i})" for i in range(len(dates))]
    for i in range(len(dates), len(dates) + 3 * len(numbers), 3):
        aggregates += [
            f"count(*) FILTER (WHERE _k{i})",
            f"count(*) FILTER (WHERE _k{i + 1})",
            f"max(_k{i + 2})",
            f"count(*) FILTER (WHERE _k{i + 2} > 0 AND _k{i + 2} < 1)",
        ]
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM {table} WHERE {where}").fetchall()[0]
    numbers_row = row[len(dates) :]
    return ColumnCounts(
        date_leftovers=dict(zip(dates, row[: len(dates)], strict=True)),
        decimal_points={h: numbers_row[i * 4] for i, h in enumerate(numbers)},
        decimal_commas={h: numbers_row[i * 4 + 1] for i, h in enumerate(numbers)},
        largest_plain={h: numbers_row[i * 4 + 2] for i, h in enumerate(numbers)},
        fractions={h: numbers_row[i * 4 + 3] for i, h in enumerate(numbers)},
    )


def count_columns(
    con: duckdb.DuckDBPyConnection, table: str, where: str, dates: dict[str, str], numbers: dict[str, str]
) -> ColumnCounts:
    """Scan the mapped date and number columns (header -> SQL cell) of ``table`` once for the
    counts the date-order and decimal-mark decisions need."""
    inputs = ", ".join(f"{sql} AS {name}" for name, sql in count_inputs(dates, numbers).items())
    rows = f"(SELECT {inputs} FROM {table} WHERE {where})" if inputs else table
    return sum_counts(con, rows, "true", dates, numbers)


def decimal_mark(points: int, commas: int, default: str) -> str:
    """The decimal mark a column's values point to; ``default`` when they do not say."""
    if commas > points:
        return ","
    return "." if points else default


def _iso_date(s: str) -> str:
    """SQL: ``s`` read as an ISO date or date-time (``YYYY-MM-DD`` first), else NULL."""
    return (
        f"CASE WHEN {s} LIKE '____-%' THEN "
        f"coalesce(TRY_CAST({s} AS DATE), TRY_CAST(TRY_CAST({s} AS TIMESTAMP) AS DATE)) END"
    )


def _not_iso(s: str) -> str:
    return f"({_iso_date(s)} IS NULL)"


def date_sql(s: str, profile: DateProfile, date_system: int = 1900) -> str:
    """SQL reading the text cell ``s`` as a DATE the way ``profile`` says (NULL if it cannot)."""
    tries = [_iso_date(s)]
    if profile.has_dm:
        first = f"CAST(regexp_extract({s}, '{_DM}', 1) AS INTEGER)"
        second = f"CAST(regexp_extract({s}, '{_DM}', 2) AS INTEGER)"
        year = f"CAST(regexp_extract({s}, '{_DM}', 3) AS INTEGER)"
        year = (
            f"CASE WHEN length(regexp_extract({s}, '{_DM}', 3)) = 2 THEN {year} + "
            f"CASE WHEN {year} < {TWO_DIGIT_YEAR_PIVOT} THEN 2000 ELSE 1900 END ELSE {year} END"
        )
        day, month = (first, second) if profile.order != "mdy" else (second, first)
        tries.append(
            f"CASE WHEN regexp_matches({s}, '{_DM}') THEN try(make_date({year}, {month}, {day})) END"
        )
    if profile.has_ymd_slash:
        ymd = [f"CAST(regexp_extract({s}, '{_YMD_SLASH}', {i}) AS INTEGER)" for i in (1, 2, 3)]
        tries.append(
            f"CASE WHEN regexp_matches({s}, '{_YMD_SLASH}') THEN try(make_date({', '.join(ymd)})) END"
        )
    if profile.has_serial:
        epoch = "DATE '1904-01-01'" if date_system == 1904 else "DATE '1899-12-30'"
        low, high = _SERIAL_RANGE
        tries.append(
            f"CASE WHEN regexp_matches({s}, '{_SERIAL}') AND CAST({s} AS DOUBLE) BETWEEN {low} AND {high} "
            f"THEN CAST({epoch} + CAST(floor(CAST({s} AS DOUBLE)) AS INTEGER) AS DATE) END"
        )
    if profile.has_text_month:
        formats = ", ".join(sql_literal(f) for f in _TEXT_MONTH_FORMATS)
        tries.append(f"TRY_CAST(try_strptime({s}, [{formats}]) AS DATE)")
    return f"coalesce({', '.join(tries)})"


def describe_date_order(profile: DateProfile) -> str:
    """How a date column was read, for the detection report."""
    names = {
        "iso": "ISO (YYYY-MM-DD)",
        "dmy": "day-first (D/M/Y)",
        "mdy": "month-first (M/D/Y)",
        "serial": "Excel serial numbers",
    }
    text = names[profile.order]
    if profile.ambiguous:
        text += ", ambiguous: every day is 12 or less, so the default order was used"
    if profile.mixed:
        text += ", mixed: some values are day-first and some month-first; the majority order was used"
    return text


# -- numbers ----------------------------------------------------------------------------


def _number_parts(s: str) -> str:
    names = ", ".join(sql_literal(name) for name in _NUMBER_PARTS)
    return f"regexp_extract({s}, {sql_literal(_NUMBER)}, [{names}])"


def number_sql(s: str, mark: str) -> str:
    """SQL reading ``s`` as a DOUBLE: thousands separators, decimal commas, currency codes and
    symbols, a sign or accounting parentheses; NULL when it is not a number."""
    parts = _number_parts(s)
    digits = f"regexp_replace({parts}.digits, '[\\s''’\\x{{00a0}}\\x{{202f}}]', '', 'g')"
    as_point = (
        f"replace({digits}, ',', '')" if mark == "." else f"replace(replace({digits}, '.', ''), ',', '.')"
    )
    negative = f"({parts}.sign1 = '-' OR {parts}.sign2 = '-' OR ({parts}.open = '(' AND {parts}.close = ')'))"
    slow = (
        f"CASE WHEN regexp_matches({digits}, '{_GROUPED[mark]}') "
        f"AND ({parts}.open = '') = ({parts}.close = '') "
        f"THEN CASE WHEN {negative} THEN -1 ELSE 1 END * TRY_CAST({as_point} AS DOUBLE) END"
    )
    if mark == ",":
        return slow
    fast = f"TRY_CAST({s} AS DOUBLE)"
    return f"CASE WHEN isfinite({fast}) THEN {fast} ELSE {slow} END"


def percent_sql(s: str) -> str:
    """SQL: whether the number in ``s`` carries a ``%`` sign."""
    return f"coalesce(CASE WHEN contains({s}, '%') THEN {_number_parts(s)}.pct = '%' END, false)"


def currency_in_value_sql(s: str) -> str:
    """SQL for the currency a value carries (``7,000.00 BGN`` -> BGN, ``$1,200`` -> USD), or NULL."""
    parts = _number_parts(s)
    token = f"upper(coalesce(NULLIF({parts}.cur1, ''), NULLIF({parts}.cur2, '')))"
    symbols = " ".join(
        f"WHEN {sql_literal(sym.upper())} THEN {sql_literal(code)}" for sym, code in CURRENCY_SYMBOLS.items()
    )
    plain = f"TRY_CAST({s} AS DOUBLE) IS NULL"
    return f"CASE WHEN {plain} THEN CASE {token} {symbols} ELSE {token} END END"


# -- status -----------------------------------------------------------------------------


def status_sql(status: str | None, stage: str | None) -> str:
    """SQL for the canonical status: the status cell when there is one, else won/lost from a
    stage named like ``Closed Won``/``closedlost``, else open."""
    from_stage = "'open'"
    if stage is not None:
        from_stage = _word_sql(stage, _STAGE_STATUS, "'open'")
    if status is None:
        return from_stage
    return f"CASE WHEN {status} IS NULL THEN {from_stage} ELSE {_word_sql(status, STATUS_WORDS, 'NULL')} END"


def _word_sql(s: str, words: dict[str, str], otherwise: str) -> str:
    """SQL mapping the cell ``s`` through ``words`` (lower case) whatever its case. The words
    as exports write them (lower, capitalised, title case) match first, so most cells are
    not lower-cased (a copy of every value)."""
    forms = {form: value for word, value in words.items() for form in (word, word.capitalize(), word.title())}
    exact = " ".join(f"WHEN {sql_literal(w)} THEN {sql_literal(v)}" for w, v in forms.items())
    lowered = " ".join(f"WHEN {sql_literal(w)} THEN {sql_literal(v)}" for w, v in words.items())
    return f"CASE {s} {exact} ELSE CASE lower({s}) {lowered} ELSE {otherwise} END END"
