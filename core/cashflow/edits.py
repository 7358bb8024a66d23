"""Editing the assumptions as tables: profile -> frames for an editor, edited frames -> profile.

The Settings page shows the stage table, payment rules, stuck-deal rules, currency rates
and the single-number parameters as tables. ``apply_edits`` reads the edited tables back,
checks every cell and every rule that spans cells (optimistic <= realistic <=
conservative, unique stage names, the base currency's rate is 1, ...), and either returns
the new profile or raises ``AssumptionEditError`` listing every problem with its table,
row, column, value and reason, so one save reports all mistakes at once and saves nothing.

    frames = edit_frames(load_assumptions(store))
    frames["stages"].loc[1, "realistic"] = 30
    profile = apply_edits(current, frames)          # AssumptionEditError when a cell is wrong
    save_assumptions(store, profile, "Approved takes longer")
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ValidationError

from core.cashflow.assumptions import Assumptions
from core.deals import normalise_stage
from core.errors import InputError, validation_problems

Kind = Literal["text", "days", "share", "flag", "rate", "number", "choice", "pattern", "names"]


@dataclass(frozen=True)
class Column:
    """One editable column: its name, what kind of value it holds, whether it may be empty."""

    name: str
    kind: Kind
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Table:
    """One editable table: its title in messages, its columns, and the column naming a row."""

    key: str
    title: str
    columns: tuple[Column, ...]
    label: str


STAGES = Table("stages", "Stage table", (
    Column("stage", "text", help="stage name as the CRM writes it"),
    Column("optimistic", "days", help="days from the as-of date to the invoice, P10"),
    Column("realistic", "days", help="days to the invoice: the prediction"),
    Column("conservative", "days", help="days to the invoice, P90"),
    Column("late", "flag", help="late stage: confidence is the late-stage confidence"),
    Column("probability", "share", required=False, help="win probability when the deal has none (0 to 1)"),
    Column("aliases", "names", required=False, help="other names of the stage, comma separated"),
), label="stage")

PAYMENT_RULES = Table("payment_rules", "Payment rules", (
    Column("field", "choice", choices=("organization", "pipeline"), help="which deal field to search"),
    Column("pattern", "pattern", help="case-insensitive regular expression, e.g. aramco"),
    Column("days", "days", help="days from invoice to payment"),
), label="pattern")

STUCK_RULES = Table("stuck", "Stuck-deal rules", (
    Column("over_days", "days", help="days in stage beyond which the rule applies"),
    Column("add_days", "days", help="days added to the invoice date"),
    Column("confidence_penalty", "share", help="taken off the confidence (0 to 1)"),
), label="over_days")

RATES = Table("rates", "Currency rates", (
    Column("currency", "text", help="ISO 4217 code, e.g. USD"),
    Column("rate", "rate", help="units of the base currency per one unit of this currency"),
), label="currency")

PARAMETERS = Table("parameters", "Parameters", (
    Column("parameter", "text"),
    Column("value", "number"),  # checked again per parameter (days or share)
    Column("meaning", "text", required=False),
), label="parameter")

TABLES = (STAGES, PAYMENT_RULES, STUCK_RULES, RATES, PARAMETERS)

#: The single-number assumptions: (profile path, kind, meaning).
SCALARS: tuple[tuple[tuple[str, ...], Kind, str], ...] = (
    (("default_payment_days",), "days", "payment terms in days when no payment rule matches"),
    (("base_confidence",), "share", "confidence of a deal in a known stage"),
    (("late_stage_confidence",), "share", "confidence of a deal in a late stage"),
    (("unknown_stage_confidence",), "share", "confidence of a deal in a stage the table does not know"),
    (("unknown_stage", "optimistic"), "days", "days to the invoice in an unknown stage, P10"),
    (("unknown_stage", "realistic"), "days", "days to the invoice in an unknown stage"),
    (("unknown_stage", "conservative"), "days", "days to the invoice in an unknown stage, P90"),
    (("invoiced_confidence",), "share", "confidence of an invoice date that is a fact"),
    (("confidence_min",), "share", "lowest confidence any prediction gets"),
    (("confidence_max",), "share", "highest confidence any prediction gets"),
    (("data_issue_penalty",), "share", "taken off the confidence of a deal with inconsistent dates"),
    (("past_invoice_days",), "days", "a predicted invoice date this many days in the past is moved"),
    (("past_invoice_reset_days",), "days", "... to the as-of date plus this many days"),
    (("past_invoice_penalty",), "share", "... and loses this much confidence"),
)
_SCALAR_NAMES = {".".join(path): (path, kind) for path, kind, _ in SCALARS}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_STAGE_FIELDS = ("optimistic", "realistic", "conservative", "late", "probability", "aliases")


class EditProblem(BaseModel):
    """One wrong cell (or row): where it is, what it holds, and why it cannot be saved."""

    table: str
    row: int | None = None  # 1-based row of the edited table; None for the table as a whole
    label: str | None = None
    column: str | None = None
    value: Any = None
    reason: str

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f", row {self.row}"
        if self.label:
            where += f" ({self.label})"
        if self.column is not None:
            where += f", column {self.column!r}"
            where += ", empty" if _blank(self.value) else f", value {_shown(self.value)!r}"
        return f"{where}: {self.reason}"


class AssumptionEditError(InputError):
    """Raised when edited tables cannot become assumptions; lists every problem, one per line."""

    def __init__(self, problems: list[EditProblem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"The assumptions were not saved ({count}):\n" + "\n".join(map(str, problems)))


# -- profile -> frames ----------------------------------------------------------------------------


def edit_frames(profile: Assumptions) -> dict[str, pd.DataFrame]:
    """One frame per table of ``TABLES``, keyed by ``Table.key``, for an editor."""
    dumped = profile.model_dump()
    return {
        STAGES.key: _frame(STAGES, [
            {"stage": s.name, "optimistic": s.optimistic, "realistic": s.realistic,
             "conservative": s.conservative, "late": s.late, "probability": s.probability,
             "aliases": ", ".join(s.aliases)}
            for s in profile.stages
        ]),
        PAYMENT_RULES.key: _frame(PAYMENT_RULES, [rule.model_dump() for rule in profile.payment_rules]),
        STUCK_RULES.key: _frame(STUCK_RULES, [rule.model_dump() for rule in profile.stuck]),
        RATES.key: _frame(RATES, [{"currency": code, "rate": rate} for code, rate in profile.rates.items()]),
        PARAMETERS.key: _frame(PARAMETERS, [
            {"parameter": ".".join(path), "value": float(_get(dumped, path)), "meaning": meaning}
            for path, _, meaning in SCALARS
        ]),
    }


def _frame(table: Table, rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[column.name for column in table.columns])
    if table is STAGES:
        frame["probability"] = frame["probability"].astype("float64")
    return frame


# -- frames -> profile ------------------------------------------------------------------------------


def apply_edits(profile: Assumptions, frames: Mapping[str, pd.DataFrame]) -> Assumptions:
    """``profile`` with the edited tables in place of its own (tables not given are kept).

    Rows whose every cell is empty (a row added and left blank) are ignored. Raises
    AssumptionEditError listing every problem; nothing is half applied.
    """
    problems: list[EditProblem] = []
    values = profile.model_dump(exclude={"version"})
    if STAGES.key in frames:
        rows = _read(STAGES, frames[STAGES.key], problems)
        _check_stages(rows, problems)
        values["stages"] = [
            {"name": row.get("stage"), **{name: row.get(name) for name in _STAGE_FIELDS}}
            for _, row in rows
        ]
    if PAYMENT_RULES.key in frames:
        rows = _read(PAYMENT_RULES, frames[PAYMENT_RULES.key], problems)
        values["payment_rules"] = [row for _, row in rows]
    if STUCK_RULES.key in frames:
        rows = _read(STUCK_RULES, frames[STUCK_RULES.key], problems)
        _check_unique(STUCK_RULES, rows, "over_days", problems)
        values["stuck"] = [row for _, row in rows]
    if RATES.key in frames:
        rows = _read(RATES, frames[RATES.key], problems)
        _check_rates(rows, profile.base_currency, problems)
        values["rates"] = {row.get("currency"): row.get("rate") for _, row in rows}
    if PARAMETERS.key in frames:
        _apply_parameters(frames[PARAMETERS.key], values, problems)
    if not problems:
        try:
            return Assumptions.model_validate({**values, "version": profile.version})
        except ValidationError as exc:
            problems = [
                EditProblem(table="Assumptions", reason=reason) for reason in validation_problems(exc, "")
            ]
    raise AssumptionEditError(problems)


def changed(before: Assumptions, after: Assumptions) -> bool:
    """Whether ``after`` differs from ``before`` in anything but the version number."""
    return before.profile_json() != after.profile_json()


Row = tuple[int, dict[str, Any]]


def _read(table: Table, frame: pd.DataFrame, problems: list[EditProblem]) -> list[Row]:
    """The non-blank rows of ``frame`` as (1-based row, parsed values); bad cells go to ``problems``."""
    missing = [column.name for column in table.columns if column.name not in frame.columns]
    if missing:
        problems.append(EditProblem(table=table.title, reason=f"missing column(s) {', '.join(missing)}"))
        return []
    rows: list[Row] = []
    for number, record in enumerate(frame.to_dict("records"), start=1):
        if all(_blank(record[column.name]) for column in table.columns):
            continue
        label = None if _blank(record.get(table.label)) else str(record[table.label]).strip()
        parsed: dict[str, Any] = {}
        for column in table.columns:
            raw = record[column.name]
            try:
                parsed[column.name] = _parse(column, raw)
            except ValueError as exc:
                problems.append(EditProblem(table=table.title, row=number, label=label, column=column.name,
                                            value=_shown(raw), reason=str(exc)))
        rows.append((number, parsed))
    return rows


def _parse(column: Column, raw: Any) -> Any:
    """One cell as the profile needs it; ValueError says why it cannot be."""
    if _blank(raw):
        if column.kind == "flag":
            return False
        if column.kind == "names":
            return []
        if column.required:
            raise ValueError("a value is required")
        return None
    if column.kind == "text":
        return str(raw).strip()
    if column.kind == "names":
        return [name.strip() for name in str(raw).split(",") if name.strip()]
    if column.kind == "flag":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "yes", "1"}:
            return True
        if text in {"false", "no", "0"}:
            return False
        raise ValueError("must be true or false")
    if column.kind == "choice":
        text = str(raw).strip().lower()
        if text not in column.choices:
            raise ValueError(f"must be one of {', '.join(column.choices)}")
        return text
    if column.kind == "pattern":
        text = str(raw).strip()
        try:
            re.compile(text)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return text
    return _number(column.kind, raw)


def _number(kind: Kind, raw: Any) -> int | float:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if kind == "days":
        if number < 0 or not number.is_integer():
            raise ValueError("must be a whole number of days, 0 or more")
        return int(number)
    if kind == "share":
        if not 0 <= number <= 1:
            raise ValueError("must be between 0 and 1")
        return number
    if kind == "rate" and number <= 0:
        raise ValueError("must be more than 0")
    return number


def _check_stages(rows: list[Row], problems: list[EditProblem]) -> None:
    for number, row in rows:
        days = [row.get(name) for name in ("optimistic", "realistic", "conservative")]
        if None in days or days == sorted(days):
            continue
        column, value = ("realistic", days[1]) if not days[0] <= days[1] else ("conservative", days[2])
        problems.append(EditProblem(
            table=STAGES.title, row=number, label=row.get("stage"), column=column, value=value,
            reason=f"days must be ordered optimistic <= realistic <= conservative "
                   f"(here {days[0]}, {days[1]}, {days[2]})",
        ))
    seen: dict[str, int] = {}
    for number, row in rows:
        for name in [row.get("stage"), *row.get("aliases", [])]:
            key = normalise_stage(name)
            if not key:
                continue
            if key in seen and seen[key] != number:
                problems.append(EditProblem(
                    table=STAGES.title, row=number, label=row.get("stage"),
                    column="stage" if name == row.get("stage") else "aliases", value=name,
                    reason=f"the name {name!r} is already used in row {seen[key]}",
                ))
            seen.setdefault(key, number)


def _check_unique(table: Table, rows: list[Row], column: str, problems: list[EditProblem]) -> None:
    seen: dict[Any, int] = {}
    for number, row in rows:
        value = row.get(column)
        if value is None:
            continue
        if value in seen:
            problems.append(EditProblem(table=table.title, row=number, label=str(value), column=column,
                                        value=value, reason=f"already used in row {seen[value]}"))
        seen.setdefault(value, number)


def _check_rates(rows: list[Row], base: str, problems: list[EditProblem]) -> None:
    title = RATES.title
    for number, row in rows:
        code = row.get("currency")
        if code is None:
            continue
        row["currency"] = code = code.upper()
        if not _CURRENCY.match(code):
            problems.append(EditProblem(table=title, row=number, label=code, column="currency", value=code,
                                        reason="must be a three-letter ISO 4217 code such as USD"))
        if code == base and row.get("rate") not in (None, 1.0):
            problems.append(EditProblem(table=title, row=number, label=code, column="rate", value=row["rate"],
                                        reason=f"{base} is the base currency: its rate is 1"))
    _check_unique(RATES, rows, "currency", problems)
    if base not in {row.get("currency") for _, row in rows}:
        problems.append(EditProblem(table=title, reason=f"the base currency {base} needs its row (rate 1)"))


def _apply_parameters(frame: pd.DataFrame, values: dict[str, Any], problems: list[EditProblem]) -> None:
    for number, row in _read(PARAMETERS, frame, problems):
        name = row.get("parameter")
        if name not in _SCALAR_NAMES:
            problems.append(EditProblem(table=PARAMETERS.title, row=number, label=name, column="parameter",
                                        value=name, reason="not a parameter of the assumptions"))
            continue
        path, kind = _SCALAR_NAMES[name]
        if row.get("value") is None:
            continue  # the cell's own problem is already listed
        try:
            _set(values, path, _number(kind, row["value"]))
        except ValueError as exc:
            problems.append(EditProblem(table=PARAMETERS.title, row=number, label=name, column="value",
                                        value=row["value"], reason=str(exc)))
    low, high = values["confidence_min"], values["confidence_max"]
    if low > high:
        problems.append(EditProblem(table=PARAMETERS.title, label="confidence_min", column="value", value=low,
                                    reason=f"confidence_min must not exceed confidence_max ({high})"))
    unknown = [values["unknown_stage"][name] for name in ("optimistic", "realistic", "conservative")]
    if unknown != sorted(unknown):
        problems.append(EditProblem(
            table=PARAMETERS.title, label="unknown_stage", column="value", value=unknown[1],
            reason="unknown-stage days must be ordered optimistic <= realistic <= conservative "
                   f"(here {unknown[0]}, {unknown[1]}, {unknown[2]})",
        ))


# -- small helpers ----------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _shown(value: Any) -> Any:
    """A cell as a message shows it: numpy scalars as plain numbers, whole floats as ints."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _get(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        values = values[part]
    return values


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        values = values[part]
    values[path[-1]] = value
