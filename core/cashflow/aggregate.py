"""Aggregation of an already-computed prediction frame into dense periods (DESIGN 5.4).

Kept apart from prediction so a slider move (horizon, minimum confidence, granularity,
pipeline, owner) re-aggregates without predicting again: numpy ``bincount`` over the
frame, no grouping objects.

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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from core.cashflow.columns import date_array, kind_codes, map_chunks
from core.cashflow.fields import FORECAST, NOT_FORECAST, RECEIVED, VALUE_FLAGS, Flag
from core.cashflow.receivables import ReceivableFlag

Granularity = Literal["week", "month"]
EXCLUDED_KEYS = ("in_receivables", "invalid_value", "filtered_out", "below_confidence", "beyond_horizon")


@dataclass(frozen=True)
class Aggregation:
    """Periods as a frame plus the totals and the deals left out, each with count and value."""

    periods: pd.DataFrame
    totals: dict[str, float | int | None]
    excluded: dict[str, dict[str, float | int]]
    shown: dict[str, dict[str, float | int]] = field(default_factory=dict)
    included: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Open invoices: all of them, those in the periods, and those left out (by reason).
    receivables: dict[str, dict[str, float | int]] = field(default_factory=dict)


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


class _Periods:
    """Maps dates onto the periods that start at ``starts``, through a table per day.

    One table lookup per row serves weeks and months alike, and missing dates (NaT) and
    dates outside the periods land on ``size`` (kept out of every sum)."""

    def __init__(self, starts: list[dt.date], granularity: Granularity):
        self.size = len(starts)
        self.first_day = _EPOCH_DAY + starts[0].toordinal()
        ends = [*starts[1:], _period_end(starts[-1], granularity) + dt.timedelta(days=1)]
        lengths = [(end - start).days for start, end in zip(starts, ends, strict=True)]
        # Slot 0: before the first period; slots 1..: one per day; the last slot: after.
        self.table = np.concatenate(
            [[self.size], np.repeat(np.arange(self.size), lengths), [self.size]]
        ).astype(np.intp)

    def index(self, days: np.ndarray) -> np.ndarray:
        """Period number of each day number (``day_numbers``); ``size`` when outside."""
        return self.table[np.clip(days - self.first_day, -1, len(self.table) - 2) + 1]

    def sum_by(self, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Sums of ``weights`` per period."""
        return np.bincount(index, weights=weights, minlength=self.size + 1)[: self.size]


_EPOCH_DAY = -dt.date(1970, 1, 1).toordinal()
#: Day number of a missing date: below any period, and below any real date.
_NO_DAY = np.iinfo(np.int64).min // 86400


def day_numbers(column: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of a date column (``_NO_DAY`` where missing), as int64."""
    return date_array(column).view(np.int64) // 86400


def _tally(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``[rows in mask, sum of their values]`` (``values`` hold no NaN); tallies add up.

    A product rather than ``values[mask]`` or ``np.dot``: the first is slow on a mask with
    no pattern, the second wakes BLAS threads, which costs milliseconds on a busy machine."""
    return np.array([np.count_nonzero(mask), (values * mask).sum()])


def _count_value(tally: np.ndarray) -> dict[str, float | int]:
    return {"count": int(tally[0]), "value": round(float(tally[1]), 2)}


#: A pipeline or owner filter: no name (no filter), one name, or several (a deal matching any).
Names = str | Sequence[str] | None


def chosen(names: Names) -> tuple[str, ...]:
    """The names a filter asks for; () when it asks for none."""
    if names is None or isinstance(names, str):
        return (names,) if names else ()
    return tuple(names)


def scope_mask(frame: pd.DataFrame, pipeline: Names, owner: Names) -> np.ndarray:
    """Rows the pipeline and owner filters keep (no filter keeps all)."""
    keep = np.ones(len(frame), dtype=bool)
    for column, wanted in (("pipeline", pipeline), ("owner", owner)):
        if names := chosen(wanted):
            keep &= frame[column].isin(names).fillna(False).to_numpy(dtype=bool)
    return keep


def scope_choices(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The pipelines and owners of the forecast deals, sorted: what the filters can offer."""
    forecast = kind_codes(frame) == FORECAST
    return {
        column: sorted(str(name) for name in pd.unique(frame[column][forecast].dropna()))
        for column in ("pipeline", "owner")
    }


#: A warning about a filter no deal matches lists at most this many of the values there are.
SCOPE_VALUES_SHOWN = 10


def _quoted(names: tuple[str, ...]) -> str:
    return " or ".join(repr(name) for name in names)


def scope_warnings(frame: pd.DataFrame, pipeline: Names, owner: Names) -> list[str]:
    """Why a pipeline or owner filter leaves no deal (the forecast is then empty); [] when some match."""
    pipelines, owners = chosen(pipeline), chosen(owner)
    if scope_mask(frame, pipelines, owners).any() or not (pipelines or owners):
        return []
    warnings = []
    for column, wanted in (("pipeline", pipelines), ("owner", owners)):
        if wanted and not frame[column].isin(wanted).fillna(False).any():
            known = sorted(str(v) for v in pd.unique(frame[column].dropna()))
            more = len(known) - SCOPE_VALUES_SHOWN
            listed = ", ".join(known[:SCOPE_VALUES_SHOWN]) + (f" and {more} more" if more > 0 else "")
            warnings.append(
                f"No deal has {column} {_quoted(wanted)}, so the forecast is empty"
                + (f" ({column}s in this forecast: {listed})." if known else ".")
            )
    return warnings or [
        f"No deal has pipeline {_quoted(pipelines)} and owner {_quoted(owners)}, so the forecast is empty."
    ]


def in_scope(frame: pd.DataFrame, pipeline: Names, owner: Names) -> tuple[pd.DataFrame, list[str]]:
    """The rows a pipeline and owner filter keeps (renumbered), and ``scope_warnings`` when it keeps none."""
    scope = scope_mask(frame, pipeline, owner)
    kept = frame if scope.all() else frame[scope].reset_index(drop=True)
    return kept, scope_warnings(frame, pipeline, owner)


def period_mask(frame: pd.DataFrame, included: np.ndarray, start: dt.date, end: dt.date) -> np.ndarray:
    """Deals of ``included`` whose expected invoice or cash in falls in start..end (both bars of a period)."""
    first, last = (_EPOCH_DAY + day.toordinal() for day in (start, end))
    invoice = day_numbers(frame["predicted_invoice_date"])
    payment = day_numbers(frame["predicted_payment_date"])
    return included & (((invoice >= first) & (invoice <= last)) | ((payment >= first) & (payment <= last)))


def aggregate(
    predictions: pd.DataFrame,
    *,
    as_of: dt.date,
    horizon_days: int = 90,
    granularity: Granularity = "week",
    min_confidence: float = 0.5,
    pipeline: Names = None,
    owner: Names = None,
    receivables: pd.DataFrame | None = None,
) -> Aggregation:
    """Dense periods from as-of to as-of + horizon with invoices, cash, band, counts and exclusions.

    ``pipeline`` and ``owner`` each keep the deals of one name or of several (``Names``);
    ``receivables`` (``predict_receivables``' frame) adds open invoices' cash to the periods."""
    pipeline, owner = chosen(pipeline), chosen(owner)
    end = as_of + dt.timedelta(days=horizon_days)
    starts = period_starts(as_of, end, granularity)
    grid = _Periods(starts, granularity)
    window = (_EPOCH_DAY + as_of.toordinal(), _EPOCH_DAY + end.toordinal())
    parts = map_chunks(
        lambda chunk: _deal_sums(chunk, grid, window, min_confidence, pipeline, owner), predictions
    )
    sums = {name: sum(part[name] for part in parts) for name in parts[0] if name != "included"}
    included = np.concatenate([part["included"] for part in parts])

    pipeline_cash = sums["cash_in_pipeline"]
    optimistic, conservative = sums["optimistic"], sums["conservative"]
    deal_count = sums["deal_count"].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(deal_count > 0, sums["confidence_sum"] / deal_count, np.nan)
    owed, receivables_summary = _receivables(receivables, grid, window[1], scoped=not (pipeline or owner))
    money = {
        "invoice_value": sums["invoice_value"],
        "invoice_value_unweighted": sums["invoice_value_unweighted"],
        "cash_in": pipeline_cash + owed.cash,
        "cash_in_unweighted": sums["cash_in_unweighted"] + owed.cash,
        "cash_in_p10": np.minimum(np.minimum(optimistic, conservative), pipeline_cash) + owed.p10,
        "cash_in_p90": np.maximum(np.maximum(optimistic, conservative), pipeline_cash) + owed.p90,
        "cash_in_pipeline": pipeline_cash,
        "cash_in_receivables": owed.cash,
    }
    money = {name: np.round(values, 2) for name, values in money.items()}
    periods = pd.DataFrame(
        {
            "period": [period_label(start, granularity) for start in starts],
            "start": starts,
            "end": [*(s - dt.timedelta(days=1) for s in starts[1:]), _period_end(starts[-1], granularity)],
            **{name: money[name] for name in list(money)[:6]},
            "deal_count": deal_count,
            "cash_in_pipeline": money["cash_in_pipeline"],
            "cash_in_receivables": money["cash_in_receivables"],
            "receivable_count": owed.count,
            "avg_confidence": np.round(average, 2),
        }
    )

    count, confidence_total = sums["in_periods"]
    totals: dict[str, float | int | None] = {
        **{name: round(float(values.sum()), 2) for name, values in money.items()},
        "deal_count": int(count),
        "avg_confidence": round(confidence_total / count, 2) if count else None,
        "forecast_value": _count_value(sums["forecast"])["value"],
        "forecast_deal_count": _count_value(sums["forecast"])["count"],
        "receivable_count": int(owed.count.sum()),
    }
    excluded = {name: _count_value(sums[name]) for name in EXCLUDED_KEYS}
    shown_keys = ("overdue_rolled_in", "already_invoiced", "received", "not_forecast")
    shown = {name: _count_value(sums[name]) for name in shown_keys}
    return Aggregation(
        periods=periods,
        totals=totals,
        excluded=excluded,
        shown=shown,
        included=included,
        receivables=receivables_summary,
    )


def _deal_sums(
    predictions: pd.DataFrame,
    grid: _Periods,
    window: tuple[int, int],
    min_confidence: float,
    pipeline: tuple[str, ...],
    owner: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Sums per period, and ``[count, value]`` per reason a deal is counted or left out, of
    some rows of the predictions: the sums of two slices add up to the sums of both.

    ``included`` is the per-row mask of the deals in the periods."""
    today, last = window
    kind = kind_codes(predictions)
    forecast = kind == FORECAST
    bits = predictions["flag_bits"].to_numpy(dtype=np.int64)
    weighted = np.nan_to_num(predictions["weighted_value"].to_numpy(dtype=np.float64))
    valued = (bits & int(VALUE_FLAGS)) == 0
    unweighted = np.nan_to_num(predictions["value_base"].to_numpy(dtype=np.float64, na_value=np.nan)) * valued
    confidence = predictions["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    invoice = day_numbers(predictions["predicted_invoice_date"])
    payment = day_numbers(predictions["predicted_payment_date"])

    covered = forecast & ((bits & int(Flag.IN_RECEIVABLES)) != 0)
    invalid = forecast & ~covered & ~valued
    filtered = forecast & ~covered & ~invalid & ~scope_mask(predictions, pipeline, owner)
    candidate = forecast & ~covered & ~invalid & ~filtered
    below = candidate & ~(confidence >= min_confidence)
    beyond = candidate & ~below & (payment > last)
    included = candidate & ~below & ~beyond
    before = included & (invoice < today) & (invoice != _NO_DAY)

    # Invoices before the as-of date are ``already_invoiced``, even inside the first month.
    invoice_index, payment_index = grid.index(invoice), grid.index(payment)
    inc, invoiced_inc = included.astype(np.float64), (included & ~before).astype(np.float64)
    # Band: the same deals' cash under the optimistic and conservative schedules.
    banded = weighted * (candidate & ~below)
    confidence_or_zero = np.nan_to_num(confidence)
    counted = {
        "in_periods": (included, confidence_or_zero),  # value: the sum of their confidence
        "forecast": (forecast, weighted),
        "in_receivables": (covered, weighted),
        "below_confidence": (below, weighted),
        "beyond_horizon": (beyond, weighted),
        "filtered_out": (filtered, weighted),
        "invalid_value": (invalid, weighted),
        "overdue_rolled_in": (included & ((bits & int(Flag.OVERDUE_ROLLED)) != 0), weighted),
        "already_invoiced": (before, weighted),
        "received": (kind == RECEIVED, unweighted),
        "not_forecast": (kind == NOT_FORECAST, np.zeros(len(kind))),
    }
    return {
        "invoice_value": grid.sum_by(invoice_index, weighted * invoiced_inc),
        "invoice_value_unweighted": grid.sum_by(invoice_index, unweighted * invoiced_inc),
        "cash_in_pipeline": grid.sum_by(payment_index, weighted * inc),
        "cash_in_unweighted": grid.sum_by(payment_index, unweighted * inc),
        "optimistic": grid.sum_by(grid.index(day_numbers(predictions["payment_p10"])), banded),
        "conservative": grid.sum_by(grid.index(day_numbers(predictions["payment_p90"])), banded),
        "deal_count": grid.sum_by(payment_index, inc),
        "confidence_sum": grid.sum_by(payment_index, confidence_or_zero * inc),
        **{name: _tally(mask, values) for name, (mask, values) in counted.items()},
        "included": included,
    }


@dataclass(frozen=True)
class _ReceivableCash:
    """Open invoices' cash per period (with its band) and their count per period."""

    cash: np.ndarray
    p10: np.ndarray
    p90: np.ndarray
    count: np.ndarray


def _receivables(
    receivables: pd.DataFrame | None, grid: _Periods, last: int, scoped: bool
) -> tuple[_ReceivableCash, dict[str, dict[str, float | int]]]:
    """Receivable cash per period; and the reconciliation of all open invoices into
    in-periods and left-out amounts."""
    if receivables is None:
        none = np.zeros(0, dtype=np.int64)
        amount, bits, payment, p10, p90 = np.zeros(0), none, none, none, none
    else:
        amount = receivables["amount_base"].to_numpy(dtype=np.float64, na_value=np.nan)
        bits = receivables["flag_bits"].to_numpy(dtype=np.int64)
        dates = ("predicted_payment_date", "payment_p10", "payment_p90")
        payment, p10, p90 = (day_numbers(receivables[name]) for name in dates)
    invalid = np.isnan(amount)
    filtered = ~invalid & (not scoped)
    beyond = ~invalid & ~filtered & (payment > last)
    included = ~invalid & ~filtered & ~beyond
    cash = np.where(included, np.nan_to_num(amount), 0.0)
    index = grid.index(payment)
    expected = grid.sum_by(index, cash)
    optimistic, conservative = grid.sum_by(grid.index(p10), cash), grid.sum_by(grid.index(p90), cash)
    out = _ReceivableCash(
        cash=expected,
        p10=np.minimum(np.minimum(optimistic, conservative), expected),
        p90=np.maximum(np.maximum(optimistic, conservative), expected),
        count=grid.sum_by(index, included.astype(np.float64)).astype(np.int64),
    )
    values = np.nan_to_num(amount)
    rolled = included & ((bits & int(ReceivableFlag.OVERDUE_ROLLED)) != 0)
    summary = {
        "open": _count_value(_tally(np.ones(len(amount), dtype=bool), values)),
        "in_periods": _count_value(_tally(included, values)),
        "beyond_horizon": _count_value(_tally(beyond, values)),
        "filtered_out": _count_value(_tally(filtered, values)),
        "invalid_value": _count_value(_tally(invalid, values)),
        "overdue_rolled_in": _count_value(_tally(rolled, values)),
        "credit_notes": _count_value(_tally(included & (values < 0), values)),
    }
    return out, summary


def _period_end(start: dt.date, granularity: Granularity) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=6)
    following = period_starts(start + dt.timedelta(days=32), start + dt.timedelta(days=32), "month")[0]
    return following - dt.timedelta(days=1)
