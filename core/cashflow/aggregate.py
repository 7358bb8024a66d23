"""Aggregation of already-computed predictions into dense periods (DESIGN 5.4), as DuckDB SQL.

Kept apart from prediction so a slider move (horizon, minimum confidence, granularity,
pipeline, owner) re-aggregates without predicting again. The predictions are a pandas
frame (the dashboard's cached run) or a DuckDB relation with the same columns (the command
line's rules run over the stored snapshot); the same SQL reads both.

Which deals land where, for the deals of kind ``forecast``:

- value problems (unknown currency, no value, negative value): counted as ``invalid_value``;
- another pipeline or owner than the filter asks for: ``filtered_out``;
- confidence below the threshold: ``below_confidence``;
- payment after as-of + horizon: ``beyond_horizon``;
- the rest: in the periods, by invoice date (invoices already issued before the as-of
  date are counted in ``already_invoiced``) and by payment date.

So periods + excluded = all forecast value, for the cash and, with ``already_invoiced``,
for the invoices. Received and lost deals are counted apart and never in the forecast.

Receivables (open invoices, core.cashflow.receivables) add cash only, never invoices: each
period's ``cash_in`` is ``cash_in_pipeline`` (deals) plus ``cash_in_receivables``. A deal
whose invoice is among them is excluded as ``in_receivables`` (counted once). Receivables
are not filtered by confidence (they are invoiced facts); with a pipeline or owner filter
they are left out as ``filtered_out`` (an invoice belongs to no pipeline), and after the
horizon as ``beyond_horizon``; an invoice whose currency has no rate is ``invalid_value``.
``Aggregation.receivables`` reconciles them: in periods + left out = all open invoices.

The SQL reads the deals grouped by what the options test (``aggregation_inputs``: a few
thousand groups; a frame's run keeps them as a table, so a slider move reads no deal),
sums the groups by reason, flags and the four periods they touch (a few hundred), then
sums those per period and per reason; Python places the sums in the dense periods and
rounds them (a few hundred numbers: plain lists). Nothing here imports pandas or numpy:
the command line prints the periods from ``Aggregation.period_columns``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import duckdb

from core.cashflow import sql
from core.cashflow.aggregation_inputs import (
    EXACT,
    PREDICTION_COLUMNS,
    AggregationInputs,
    days,
    inputs_sql,
)
from core.cashflow.checks import failed_checks, warning_lines
from core.cashflow.receivables import ReceivableFlag
from core.cashflow.scope import Names, chosen, scope_condition
from core.cashflow.sql import Source, literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Granularity = Literal["week", "month"]
EXCLUDED_KEYS = ("in_receivables", "invalid_value", "filtered_out", "below_confidence", "beyond_horizon")


@dataclass(frozen=True)
class Aggregation:
    """Periods plus the totals and the deals left out, each with count and value.

    ``period_columns`` holds the periods as plain columns (the command line prints them);
    ``periods`` is the same as a DataFrame, made when first asked for."""

    period_columns: dict[str, list]
    totals: dict[str, float | int | None]
    excluded: dict[str, dict[str, float | int]]
    shown: dict[str, dict[str, float | int]] = field(default_factory=dict)
    #: Open invoices: all of them, those in the periods, and those left out (by reason).
    receivables: dict[str, dict[str, float | int]] = field(default_factory=dict)
    #: The run's warnings (``checks.run_warnings``' lines), when ``aggregate`` was given the checks.
    warnings: list[str] = field(default_factory=list)
    #: Computes ``included``; None when the predictions were a relation (no rows to point at).
    included_rows: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def periods(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.period_columns)

    @functools.cached_property
    def included(self) -> np.ndarray:
        """Per row of the prediction frame: is the deal in the periods (the chart's deals)."""
        if self.included_rows is None:
            raise TypeError("included is a mask over a prediction frame; these predictions were a relation")
        return self.included_rows()


def period_starts(start: dt.date, end: dt.date, granularity: Granularity) -> list[dt.date]:
    """First days of the dense periods (ISO weeks from Monday, or months) covering start..end."""
    if granularity == "week":
        first = start - dt.timedelta(days=start.weekday())
        return [first + dt.timedelta(weeks=i) for i in range((end - first).days // 7 + 1)]
    if granularity == "month":
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        return [
            dt.date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
            for i in range(months)
        ]
    raise ValueError(f"granularity must be 'week' or 'month', not {granularity!r}")


def period_label(start: dt.date, granularity: Granularity) -> str:
    """``2026-W05`` for an ISO week, ``2026-01`` for a month."""
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def _period_end(start: dt.date, granularity: Granularity) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=6)
    following = period_starts(start + dt.timedelta(days=32), start + dt.timedelta(days=32), "month")[0]
    return following - dt.timedelta(days=1)


def _period_number(day: str, granularity: Granularity) -> str:
    """SQL: the number of the week (from Monday) or month a DATE expression falls in, counted
    from the year 1 (0001-01-01 was a Monday); consecutive periods have consecutive numbers."""
    if granularity == "week":
        return f"(({day}) - DATE '0001-01-01') // 7"
    return f"year({day}) * 12 + month({day})"


def _period_index(day: str, first: dt.date, granularity: Granularity) -> str:
    """SQL: the index of the period a DATE expression falls in, among periods from ``first``'s."""
    return f"({_period_number(day, granularity)}) - ({_period_number(literal(first), granularity)})"


_RECEIVABLE_COLUMNS = ("amount_base", "flag_bits", "predicted_payment_date", "payment_p10", "payment_p90")


def period_mask(frame: pd.DataFrame, included: np.ndarray, start: dt.date, end: dt.date) -> np.ndarray:
    """Deals of ``included`` whose expected invoice or cash in falls in start..end (both bars of a period)."""
    between = f"BETWEEN {literal(start)} AND {literal(end)}"
    touched = sql.arrays(
        frame, "prediction_rows", ("predicted_invoice_date", "predicted_payment_date"),
        f"SELECT coalesce(invoice_day {between}, false) OR coalesce(payment_day {between}, false) AS touched "
        f"FROM (SELECT {days('predicted_invoice_date', 'predicted_payment_date')} FROM prediction_rows)",
    )["touched"]
    return included & touched


@dataclass(frozen=True)
class _Query:
    """One aggregation's options, written into its SQL."""

    as_of: dt.date
    end: dt.date
    first: dt.date
    granularity: Granularity
    min_confidence: float
    pipeline: tuple[str, ...]
    owner: tuple[str, ...]

    def reason(self) -> str:
        """SQL: where a row of ``aggregation_inputs.inputs_sql`` lands: ``included`` (in the periods),
        an ``EXCLUDED_KEYS`` reason, ``received`` or ``not_forecast`` (another kind: NULL)."""
        in_scope, _ = scope_condition(self.pipeline, self.owner)
        return f"""CASE
            WHEN fate IS DISTINCT FROM 'forecast' THEN fate
            WHEN NOT ({in_scope}) THEN 'filtered_out'
            WHEN NOT coalesce(confidence >= {literal(float(self.min_confidence))}, false)
                THEN 'below_confidence'
            WHEN payment_day > {literal(self.end)} THEN 'beyond_horizon'
            ELSE 'included'
        END"""

    def index(self, day: str) -> str:
        return _period_index(day, self.first, self.granularity)

    def deal_sums(self, inputs: str) -> str:
        """SQL of the sums of ``inputs`` (``aggregation_inputs.inputs_sql``'s groups: a table or a
        subquery). Rows (sums,
        period, weighted, unweighted, deals, confidence): per period for the sums ``invoice``,
        ``payment``, ``optimistic`` and ``conservative``; per reason (``reason``) and for the shown
        tallies with period NULL."""
        return f"""
        WITH placed AS (
            SELECT {self.reason()} AS reason,
                coalesce(invoice_day < {literal(self.as_of)}, false) AS before, rolled,
                {self.index('invoice_day')} AS invoice, {self.index('payment_day')} AS payment,
                {self.index('p10_day')} AS p10, {self.index('p90_day')} AS p90,
                deals, weighted, unweighted, confidence_sum, failed
            FROM {inputs}
        ),
        -- the groups summed by where they land: a few hundred
        deals AS MATERIALIZED (
            SELECT reason, reason = 'included' AS included,
                reason IN ('included', 'beyond_horizon') AS banded,
                reason NOT IN ('received', 'not_forecast') AS forecast,
                before, rolled, invoice, payment, p10, p90, failed,
                sum(deals) AS deals, sum(weighted) AS weighted, sum(unweighted) AS unweighted,
                sum(confidence_sum) AS confidence
            FROM placed GROUP BY reason, before, rolled, invoice, payment, p10, p90, failed
        )
        -- FILTER, not WHERE: DuckDB would push a WHERE below the grouping, to run per deal
        SELECT 'invoice', invoice, sum(weighted) FILTER (included AND NOT before),
                sum(unweighted) FILTER (included AND NOT before), NULL, NULL
            FROM deals GROUP BY invoice
        UNION ALL SELECT 'payment', payment, sum(weighted) FILTER (included),
                sum(unweighted) FILTER (included), sum(deals) FILTER (included),
                sum(confidence) FILTER (included)
            FROM deals GROUP BY payment
        -- the band: the same deals' cash under the optimistic and conservative schedules
        UNION ALL SELECT 'optimistic', p10, sum(weighted) FILTER (banded), NULL, NULL, NULL
            FROM deals GROUP BY p10
        UNION ALL SELECT 'conservative', p90, sum(weighted) FILTER (banded), NULL, NULL, NULL
            FROM deals GROUP BY p90
        UNION ALL SELECT reason, NULL, sum(weighted), sum(unweighted), sum(deals), sum(confidence)
            FROM deals GROUP BY reason
        UNION ALL SELECT 'forecast', NULL, sum(weighted) FILTER (forecast), NULL,
                sum(deals) FILTER (forecast), NULL
            FROM deals
        UNION ALL SELECT 'overdue_rolled_in', NULL, sum(weighted) FILTER (included AND rolled), NULL,
                sum(deals) FILTER (included AND rolled), NULL
            FROM deals
        UNION ALL SELECT 'already_invoiced', NULL, sum(weighted) FILTER (included AND before), NULL,
                sum(deals) FILTER (included AND before), NULL
            FROM deals
        -- the deals failing each set of checks (``failed``), for the run's warnings
        UNION ALL SELECT 'failed ' || failed, NULL, NULL, NULL, sum(deals), NULL
            FROM deals GROUP BY failed
        """

    def receivable_sums(self) -> str:
        """SQL of the open invoices' sums. Rows (sums, period, amount, invoices): per period for
        ``payment``, ``optimistic`` and ``conservative``; per reason (``in_periods`` or why left
        out) and for the tallies with period NULL."""
        return f"""
        WITH owed AS MATERIALIZED (
            SELECT CASE
                    WHEN amount_base IS NULL THEN 'invalid_value'
                    WHEN {literal(bool(self.pipeline or self.owner))} THEN 'filtered_out'
                    WHEN payment_day > {literal(self.end)} THEN 'beyond_horizon'
                    ELSE 'in_periods'
                END AS reason,
                reason = 'in_periods' AS included,
                flag_bits & {int(ReceivableFlag.OVERDUE_ROLLED)} <> 0 AS rolled, amount_base < 0 AS credit,
                {self.index('payment_day')} AS payment, {self.index('p10_day')} AS p10,
                {self.index('p90_day')} AS p90,
                count(*) AS invoices, sum(amount_base::{EXACT}) AS amount
            FROM (SELECT amount_base, flag_bits, {days(*_RECEIVABLE_COLUMNS[2:])} FROM receivables)
            GROUP BY ALL
        )
        SELECT 'payment', payment, sum(amount) FILTER (included), sum(invoices) FILTER (included)
            FROM owed GROUP BY payment
        UNION ALL SELECT 'optimistic', p10, sum(amount) FILTER (included), NULL FROM owed GROUP BY p10
        UNION ALL SELECT 'conservative', p90, sum(amount) FILTER (included), NULL FROM owed GROUP BY p90
        UNION ALL SELECT reason, NULL, sum(amount), sum(invoices) FROM owed GROUP BY reason
        UNION ALL SELECT 'open', NULL, sum(amount), sum(invoices) FROM owed
        UNION ALL SELECT 'overdue_rolled_in', NULL, sum(amount) FILTER (included AND rolled),
                sum(invoices) FILTER (included AND rolled)
            FROM owed
        UNION ALL SELECT 'credit_notes', NULL, sum(amount) FILTER (included AND credit),
                sum(invoices) FILTER (included AND credit)
            FROM owed
        """

    def included(self, inputs: str) -> str:
        """SQL of the ``group_number`` of the groups of ``inputs`` that land in the periods."""
        return f"SELECT group_number FROM {inputs} WHERE {self.reason()} = 'included'"


def _plus(first: Iterable[float], second: Iterable[float]) -> list[float]:
    return [a + b for a, b in zip(first, second, strict=True)]


def _cents(value: float) -> float:
    """``value`` rounded to cents as numpy rounds (``rint(value * 100) / 100``), which the
    figures have always been; Python's ``round(value, 2)`` differs on some halves."""
    return round(value * 100) / 100


class _Sums:
    """Result rows ``(sums, period, *values)`` of ``deal_sums`` or ``receivable_sums``, the values
    named ``names``: lists over the periods, or a tally where the period is NULL."""

    def __init__(self, rows: list[tuple], names: tuple[str, ...], size: int):
        self.size = size
        self.periods: dict[tuple[str, str], list[float]] = {}
        self.tallies: dict[str, dict[str, float | int]] = {}
        for sums, period, *values in rows:
            found = dict(zip(names, (float(value or 0) for value in values), strict=True))
            if period is None:
                self.tallies[sums] = found
            elif 0 <= period < size:  # dates outside the periods are in no sum
                for name, value in found.items():
                    self.per_period(sums, name)[period] = value

    def per_period(self, sums: str, name: str) -> list[float]:
        return self.periods.setdefault((sums, name), [0.0] * self.size)

    def failures(self, checks: int) -> list[int]:
        """Deals failing each of ``checks`` checks, from the ``failed <bits>`` tallies."""
        counts = [0] * checks
        for sums, found in self.tallies.items():
            if sums.startswith("failed "):
                bits = int(sums.removeprefix("failed "))
                for check in range(checks):
                    counts[check] += int(found["deals"]) if bits >> check & 1 else 0
        return counts

    def tally(self, sums: str, count: str, value: str) -> dict[str, float | int]:
        found = self.tallies.get(sums, {})
        return {"count": int(found.get(count, 0)), "value": round(float(found.get(value, 0)), 2)}


def aggregate(
    predictions: Source | AggregationInputs,
    *,
    as_of: dt.date,
    horizon_days: int = 90,
    granularity: Granularity = "week",
    min_confidence: float = 0.5,
    pipeline: Names = None,
    owner: Names = None,
    receivables: Source | None = None,
    checks: dict[str, str] | None = None,
) -> Aggregation:
    """Dense periods from as-of to as-of + horizon with invoices, cash, band, counts and exclusions.

    ``predictions`` is a prediction frame or a DuckDB relation with its columns (``kind`` as
    text, ``flag_bits``, ``weighted_value``, ``value_base``, ``confidence``, the predicted
    invoice and payment dates and the payment band as DATE or timestamps, and ``pipeline``
    and ``owner`` when filtered), or a frame's ``AggregationInputs`` (what a run keeps to
    aggregate again); ``Aggregation.included`` exists only for a frame or its inputs.
    ``pipeline`` and ``owner`` each keep the deals of one name or of several (``Names``);
    ``receivables`` (``predict_receivables``' items) adds open invoices' cash to the periods.
    ``checks`` (``checks.warning_conditions``) are counted in the same pass over every deal,
    filtered or not: ``Aggregation.warnings`` is then ``checks.run_warnings``' lines. Inputs
    count the checks they were made with (``checks`` must then be None)."""
    pipeline, owner = chosen(pipeline), chosen(owner)
    end = as_of + dt.timedelta(days=horizon_days)
    starts = period_starts(as_of, end, granularity)
    query = _Query(as_of, end, starts[0], granularity, min_confidence, pipeline, owner)
    if isinstance(predictions, duckdb.DuckDBPyRelation | sql.Select):
        _, scope = scope_condition(pipeline, owner)  # the filtered columns
        grouped = f"({inputs_sql(scope, failed_checks(checks or {}))})"
        columns = (*PREDICTION_COLUMNS, *scope)
        rows = sql.rows(predictions, "prediction_rows", columns, query.deal_sums(grouped))
        included_rows = None
    else:
        if isinstance(predictions, AggregationInputs):
            if checks is not None:
                raise ValueError("aggregation inputs count the checks they were made with; pass no checks")
            inputs, checks = predictions, predictions.checks
        else:
            inputs = AggregationInputs(predictions, checks)
        rows = inputs.rows(query.deal_sums(inputs.table))
        included_rows = functools.partial(inputs.rows_of, query.included(inputs.table))
    deals = _Sums(rows, ("weighted", "unweighted", "deals", "confidence"), len(starts))
    rows = [] if receivables is None else sql.rows(
        receivables, "receivables", _RECEIVABLE_COLUMNS, query.receivable_sums()
    )
    owed = _Sums(rows, ("amount", "invoices"), len(starts))

    pipeline_cash = deals.per_period("payment", "weighted")
    owed_cash = owed.per_period("payment", "amount")
    band = ("optimistic", "conservative")
    optimistic, conservative = (deals.per_period(sums, "weighted") for sums in band)
    owed_optimistic, owed_conservative = (owed.per_period(sums, "amount") for sums in band)
    owed_p10 = list(map(min, owed_optimistic, owed_conservative, owed_cash))
    owed_p90 = list(map(max, owed_optimistic, owed_conservative, owed_cash))
    deal_count = [int(count) for count in deals.per_period("payment", "deals")]
    average = [
        total / count if count > 0 else math.nan
        for total, count in zip(deals.per_period("payment", "confidence"), deal_count, strict=True)
    ]
    money = {
        "invoice_value": deals.per_period("invoice", "weighted"),
        "invoice_value_unweighted": deals.per_period("invoice", "unweighted"),
        "cash_in": _plus(pipeline_cash, owed_cash),
        "cash_in_unweighted": _plus(deals.per_period("payment", "unweighted"), owed_cash),
        "cash_in_p10": _plus(map(min, optimistic, conservative, pipeline_cash), owed_p10),
        "cash_in_p90": _plus(map(max, optimistic, conservative, pipeline_cash), owed_p90),
        "cash_in_pipeline": pipeline_cash,
        "cash_in_receivables": owed_cash,
    }
    money = {name: [_cents(value) for value in values] for name, values in money.items()}
    if receivables is None:  # whole zeros: the JSON has always shown 0 here, not 0.0
        money["cash_in_receivables"] = [0] * len(starts)
    receivable_count = [int(count) for count in owed.per_period("payment", "invoices")]
    period_columns = {
        "period": [period_label(start, granularity) for start in starts],
        "start": starts,
        "end": [*(s - dt.timedelta(days=1) for s in starts[1:]), _period_end(starts[-1], granularity)],
        **{name: money[name] for name in list(money)[:6]},
        "deal_count": deal_count,
        "cash_in_pipeline": money["cash_in_pipeline"],
        "cash_in_receivables": money["cash_in_receivables"],
        "receivable_count": receivable_count,
        "avg_confidence": [value if math.isnan(value) else _cents(value) for value in average],
    }

    included = deals.tallies.get("included", {})
    count, confidence_total = int(included.get("deals", 0)), float(included.get("confidence", 0))
    forecast = deals.tally("forecast", "deals", "weighted")
    totals: dict[str, float | int | None] = {
        **{name: round(math.fsum(values), 2) for name, values in money.items()},
        "deal_count": count,
        "avg_confidence": _cents(confidence_total / count) if count else None,
        "forecast_value": forecast["value"],
        "forecast_deal_count": forecast["count"],
        "receivable_count": sum(receivable_count),
    }
    excluded = {name: deals.tally(name, "deals", "weighted") for name in EXCLUDED_KEYS}
    shown = {
        "overdue_rolled_in": deals.tally("overdue_rolled_in", "deals", "weighted"),
        "already_invoiced": deals.tally("already_invoiced", "deals", "weighted"),
        "received": deals.tally("received", "deals", "unweighted"),
        "not_forecast": {"count": deals.tally("not_forecast", "deals", "weighted")["count"], "value": 0.0},
    }
    invoices = ("open", "in_periods", "beyond_horizon", "filtered_out", "invalid_value", "overdue_rolled_in",
                "credit_notes")
    return Aggregation(
        period_columns=period_columns,
        totals=totals,
        excluded=excluded,
        shown=shown,
        receivables={name: owed.tally(name, "invoices", "amount") for name in invoices},
        warnings=warning_lines(checks or {}, deals.failures(len(checks or {}))),
        included_rows=included_rows,
    )
