"""Backtest (DESIGN 5.5): forecast from an earlier snapshot, compare with what happened later.

The forecast uses only what was known at the ``from`` snapshot (the learned engine reads
history up to its as-of). What happened comes from the snapshots after it up to ``to``:
invoice events (invoice date, else entry into an invoiced stage, else won date) and
payments (payment date, else entry into a paid stage), as ``learned.invoice_events``
reads them. Deals whose invoice was already a fact at ``from`` are not scored on invoice
dates (there was nothing to predict), but they are on payments.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from core.cashflow.aggregate import period_starts
from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.learned import invoice_events, load_history
from core.cashflow.models import PredictionOptions
from core.cashflow.service import CashflowPredictionService
from core.errors import InputError
from core.store import SnapshotRef, Store


class BacktestResult(BaseModel):
    """Errors of one engine's forecast from ``from_snapshot`` against later snapshots."""

    from_snapshot: int
    to_snapshot: int
    from_as_of: str
    to_as_of: str
    engine: str
    deals_evaluated: int
    payments_evaluated: int
    invoice_mae_days: float | None
    payment_mae_days: float | None
    bias_days: float | None
    wape: float | None
    band_coverage: float | None

    def as_json(self) -> dict[str, object]:
        """The command line's JSON: ``from`` and ``to`` are snapshot ids."""
        data = self.model_dump()
        return {"from": data.pop("from_snapshot"), "to": data.pop("to_snapshot"), **data}


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 2) if len(values) else None


def run_backtest(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef = "latest",
    *,
    engine: str = "rules",
    assumptions: Assumptions | None = None,
    min_samples: int | None = None,
) -> BacktestResult:
    """Forecast from ``from_ref`` with ``engine``; score it against ``to_ref`` and the snapshots between."""
    start, end = store.resolve_snapshot(from_ref), store.resolve_snapshot(to_ref)
    if not start.as_of < end.as_of:
        raise InputError(
            f"The 'to' snapshot ({end.id}, as of {end.as_of}) must be later than the 'from' "
            f"snapshot ({start.id}, as of {start.as_of})."
        )
    options = PredictionOptions(engine=engine, store_results=False)
    if min_samples is not None:
        options = options.model_copy(update={"min_samples": min_samples})
    run = CashflowPredictionService(store, assumptions=assumptions).run(start.id, options)
    frame = run.frame
    a = run.assumptions

    events = invoice_events(load_history(store, end.as_of), a)
    events = events.reindex(frame["deal_id"].astype(str))
    actual_invoice = day_array(events["invoice_event"].reset_index(drop=True))
    actual_payment = day_array(events["payment_event"].reset_index(drop=True))
    first, last = np.datetime64(start.as_of, "D"), np.datetime64(end.as_of, "D")
    forecast = (frame["kind"] == "forecast").to_numpy()
    guessed = forecast & ~frame["invoice_is_fact"].to_numpy(bool)

    invoice_known = guessed & (actual_invoice > first - np.timedelta64(1, "D")) & (actual_invoice <= last)
    predicted = day_array(frame["predicted_invoice_date"])
    invoice_error = (predicted - actual_invoice)[invoice_known].astype(np.float64)
    inside = (
        (day_array(frame["invoice_p10"]) <= actual_invoice)
        & (actual_invoice <= day_array(frame["invoice_p90"]))
    )[invoice_known]

    paid = forecast & (actual_payment >= first) & (actual_payment <= last)
    predicted_payment = day_array(frame["predicted_payment_date"])
    payment_error = (predicted_payment - actual_payment)[paid].astype(np.float64)

    return BacktestResult(
        from_snapshot=start.id,
        to_snapshot=end.id,
        from_as_of=start.as_of.isoformat(),
        to_as_of=end.as_of.isoformat(),
        engine=engine,
        deals_evaluated=int(invoice_known.sum()),
        payments_evaluated=int(paid.sum()),
        invoice_mae_days=_mean(np.abs(invoice_error)),
        payment_mae_days=_mean(np.abs(payment_error)),
        bias_days=_mean(invoice_error),
        band_coverage=_mean(inside.astype(np.float64)),
        wape=_weekly_wape(frame, forecast, predicted_payment, actual_payment, start.as_of, end.as_of),
    )


def _weekly_wape(frame, forecast, predicted_payment, actual_payment, first, last) -> float | None:
    """Sum over ISO weeks from..to of |forecast cash - actual cash|, over the actual cash."""
    starts = np.array(period_starts(first, last, "week"), dtype="datetime64[D]")
    edges = np.append(starts, starts[-1] + np.timedelta64(7, "D"))
    in_window = (predicted_payment >= np.datetime64(first, "D")) & (
        predicted_payment <= np.datetime64(last, "D")
    )
    paid = (actual_payment >= np.datetime64(first, "D")) & (actual_payment <= np.datetime64(last, "D"))
    weighted = frame["weighted_value"].to_numpy(dtype=np.float64)
    value = np.nan_to_num(frame["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    size = len(starts)

    def weekly(days: np.ndarray, mask: np.ndarray, amounts: np.ndarray) -> np.ndarray:
        index = np.searchsorted(edges, days[mask], side="right") - 1
        return np.bincount(index, weights=amounts[mask], minlength=size)[:size]

    forecast_cash = weekly(predicted_payment, forecast & in_window, weighted)
    actual_cash = weekly(actual_payment, forecast & paid, value)
    total = actual_cash.sum()
    return round(float(np.abs(forecast_cash - actual_cash).sum() / total), 4) if total > 0 else None
