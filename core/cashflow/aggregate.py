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
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from core.cashflow.columns import FORECAST, NOT_FORECAST, RECEIVED, VALUE_FLAGS, Flag, day_array, kind_codes
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


def _period_index(days: np.ndarray, first: dt.date, granularity: Granularity, size: int) -> np.ndarray:
    """Period number of each date counted from the period starting ``first``; ``size`` when outside."""
    missing = np.isnat(days)
    if granularity == "week":
        index = (days - np.datetime64(first, "D")).astype(np.int64) // 7
    else:
        months = days.astype("datetime64[M]").astype(np.int64)
        index = months - np.datetime64(first, "M").astype(np.int64)
    return np.where(missing | (index < 0) | (index >= size), size, index)


def _sum_by(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``weights`` per period; indexes outside 0..size-1 must already be ``size``."""
    return np.bincount(index, weights=weights, minlength=size + 1)[:size]


def _count_value(mask: np.ndarray, values: np.ndarray) -> dict[str, float | int]:
    return {"count": int(mask.sum()), "value": round(float(values[mask].sum()), 2)}


def scope_mask(frame: pd.DataFrame, pipeline: str | None, owner: str | None) -> np.ndarray:
    """Rows the pipeline and owner filters keep (no filter keeps all)."""
    keep = np.ones(len(frame), dtype=bool)
    for column, wanted in (("pipeline", pipeline), ("owner", owner)):
        if wanted:
            keep &= (frame[column] == wanted).fillna(False).to_numpy(dtype=bool)
    return keep


def aggregate(
    predictions: pd.DataFrame,
    *,
    as_of: dt.date,
    horizon_days: int = 90,
    granularity: Granularity = "week",
    min_confidence: float = 0.5,
    pipeline: str | None = None,
    owner: str | None = None,
    receivables: pd.DataFrame | None = None,
) -> Aggregation:
    """Dense periods from as-of to as-of + horizon with invoices, cash, band, counts and exclusions.

    ``receivables`` (``predict_receivables``' frame) adds open invoices' cash to the periods."""
    end = as_of + dt.timedelta(days=horizon_days)
    starts = period_starts(as_of, end, granularity)
    size = len(starts)
    today, last = np.datetime64(as_of, "D"), np.datetime64(end, "D")

    kind = kind_codes(predictions)
    forecast = kind == FORECAST
    bits = predictions["flag_bits"].to_numpy(dtype=np.int64)
    weighted = predictions["weighted_value"].to_numpy(dtype=np.float64)
    unweighted = np.where(
        (bits & int(VALUE_FLAGS)) == 0,
        np.nan_to_num(predictions["value_base"].to_numpy(dtype=np.float64, na_value=np.nan)),
        0.0,
    )
    confidence = predictions["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    invoice = day_array(predictions["predicted_invoice_date"])
    payment = day_array(predictions["predicted_payment_date"])

    covered = forecast & ((bits & int(Flag.IN_RECEIVABLES)) != 0)
    invalid = forecast & ~covered & ((bits & int(VALUE_FLAGS)) != 0)
    filtered = forecast & ~covered & ~invalid & ~scope_mask(predictions, pipeline, owner)
    candidate = forecast & ~covered & ~invalid & ~filtered
    below = candidate & ~(confidence >= min_confidence)
    beyond = candidate & ~below & (payment > last)
    included = candidate & ~below & ~beyond
    before = included & (invoice < today)

    # Invoices before the as-of date are ``already_invoiced``, even inside the first month.
    invoice_index = np.where(before, size, _period_index(invoice, starts[0], granularity, size))
    payment_index = _period_index(payment, starts[0], granularity, size)
    inc = included.astype(np.float64)
    periods = pd.DataFrame(
        {
            "period": [period_label(start, granularity) for start in starts],
            "start": starts,
            "end": [*(s - dt.timedelta(days=1) for s in starts[1:]), _period_end(starts[-1], granularity)],
            "invoice_value": _sum_by(invoice_index, weighted * inc, size),
            "invoice_value_unweighted": _sum_by(invoice_index, unweighted * inc, size),
            "cash_in": _sum_by(payment_index, weighted * inc, size),
            "cash_in_unweighted": _sum_by(payment_index, unweighted * inc, size),
        }
    )
    # Band: the same deals' cash under the optimistic and conservative schedules.
    banded = candidate & ~below
    optimistic = _sum_by(
        _period_index(day_array(predictions["payment_p10"]), starts[0], granularity, size),
        weighted * banded,
        size,
    )
    conservative = _sum_by(
        _period_index(day_array(predictions["payment_p90"]), starts[0], granularity, size),
        weighted * banded,
        size,
    )
    cash = periods["cash_in"].to_numpy()
    periods["cash_in_p10"] = np.minimum(np.minimum(optimistic, conservative), cash)
    periods["cash_in_p90"] = np.maximum(np.maximum(optimistic, conservative), cash)
    periods["deal_count"] = _sum_by(payment_index, inc, size).astype(np.int64)
    periods["cash_in_pipeline"] = periods["cash_in"]
    scoped = not (pipeline or owner)
    receivable_cash, receivables_summary = _receivables(receivables, starts, granularity, last, scoped)
    for name, values in receivable_cash.items():
        periods[name] = values
    for name in ("cash_in", "cash_in_unweighted", "cash_in_p10", "cash_in_p90"):
        band = {"cash_in_p10": "p10", "cash_in_p90": "p90"}.get(name, "cash")
        periods[name] = periods[name] + receivable_cash[f"_receivables_{band}"]
    periods = periods.drop(columns=[name for name in receivable_cash if name.startswith("_")])
    confidence_sum = _sum_by(payment_index, np.nan_to_num(confidence) * inc, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(periods["deal_count"] > 0, confidence_sum / periods["deal_count"], np.nan)
    periods["avg_confidence"] = np.round(average, 2)
    money = [
        "invoice_value",
        "invoice_value_unweighted",
        "cash_in",
        "cash_in_unweighted",
        "cash_in_p10",
        "cash_in_p90",
        "cash_in_pipeline",
        "cash_in_receivables",
    ]
    periods[money] = periods[money].round(2)

    count = int(included.sum())
    totals: dict[str, float | int | None] = {
        **{name: round(float(periods[name].sum()), 2) for name in money},
        "deal_count": count,
        "avg_confidence": round(float(confidence[included].mean()), 2) if count else None,
        "forecast_value": round(float(weighted[forecast].sum()), 2),
        "forecast_deal_count": int(forecast.sum()),
        "receivable_count": int(periods["receivable_count"].sum()),
    }
    excluded = {
        "in_receivables": _count_value(covered, weighted),
        "below_confidence": _count_value(below, weighted),
        "beyond_horizon": _count_value(beyond, weighted),
        "filtered_out": _count_value(filtered, weighted),
        "invalid_value": _count_value(invalid, weighted),
    }
    shown = {
        "overdue_rolled_in": _count_value(included & ((bits & int(Flag.OVERDUE_ROLLED)) != 0), weighted),
        "already_invoiced": _count_value(before, weighted),
        "received": _count_value(kind == RECEIVED, unweighted),
        "not_forecast": _count_value(kind == NOT_FORECAST, np.zeros(len(kind))),
    }
    return Aggregation(
        periods=periods,
        totals=totals,
        excluded=excluded,
        shown=shown,
        included=included,
        receivables=receivables_summary,
    )


def _receivables(
    receivables: pd.DataFrame | None,
    starts: list[dt.date],
    granularity: Granularity,
    last: np.datetime64,
    scoped: bool,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float | int]]]:
    """Per period: receivable cash (with its band, as ``_receivables_*``) and count; and the
    reconciliation of all open invoices into in-periods and left-out amounts."""
    size = len(starts)
    if receivables is None:
        names = ("amount_base", "predicted_payment_date", "payment_p10", "payment_p90", "flag_bits")
        receivables = pd.DataFrame({name: [] for name in names})
    amount = receivables["amount_base"].to_numpy(dtype=np.float64, na_value=np.nan)
    bits = receivables["flag_bits"].to_numpy(dtype=np.int64)
    payment = day_array(receivables["predicted_payment_date"])
    invalid = np.isnan(amount)
    filtered = ~invalid & (not scoped)
    beyond = ~invalid & ~filtered & (payment > last)
    included = ~invalid & ~filtered & ~beyond
    cash = np.where(included, np.nan_to_num(amount), 0.0)
    index = _period_index(payment, starts[0], granularity, size)
    out = {
        "cash_in_receivables": _sum_by(index, cash, size),
        "receivable_count": _sum_by(index, included.astype(np.float64), size).astype(np.int64),
    }
    out["_receivables_cash"] = out["cash_in_receivables"]
    for band in ("p10", "p90"):
        days = day_array(receivables[f"payment_{band}"])
        out[f"_receivables_{band}"] = _sum_by(_period_index(days, starts[0], granularity, size), cash, size)
    low = np.minimum(np.minimum(out["_receivables_p10"], out["_receivables_p90"]), out["_receivables_cash"])
    high = np.maximum(np.maximum(out["_receivables_p10"], out["_receivables_p90"]), out["_receivables_cash"])
    out["_receivables_p10"], out["_receivables_p90"] = low, high
    values = np.nan_to_num(amount)
    rolled = included & ((bits & int(ReceivableFlag.OVERDUE_ROLLED)) != 0)
    summary = {
        "open": _count_value(np.ones(len(amount), dtype=bool), values),
        "in_periods": _count_value(included, values),
        "beyond_horizon": _count_value(beyond, values),
        "filtered_out": _count_value(filtered, values),
        "invalid_value": _count_value(invalid, values),
        "overdue_rolled_in": _count_value(rolled, values),
        "credit_notes": _count_value(included & (values < 0), values),
    }
    return out, summary


def _period_end(start: dt.date, granularity: Granularity) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=6)
    following = period_starts(start + dt.timedelta(days=32), start + dt.timedelta(days=32), "month")[0]
    return following - dt.timedelta(days=1)
