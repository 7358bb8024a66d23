"""Backtest (DESIGN 5.5): forecast from an earlier snapshot, compare with what happened later.

The forecast uses only what was known at the ``from`` snapshot (the learned engine reads
history up to its as-of). What happened comes from the snapshots after it up to ``to``:
invoice events (invoice date, else entry into an invoiced stage, else won date) and
payments (payment date, else entry into a paid stage), as ``learned.invoice_events``
reads them. Deals whose invoice was already a fact at ``from`` are not scored on invoice
dates (there was nothing to predict), but they are on payments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel

from core.cashflow.aggregate import period_label, period_starts
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


@dataclass(frozen=True)
class BacktestDetail:
    """What an engine's backtest is scored on, for charts; ``result`` holds its metrics.

    ``deals``: the scored deals with deal_id, title, stage, predicted/actual invoice and
    payment dates, ``invoice_error_days`` / ``payment_error_days`` (predicted minus actual;
    missing when that date was not scored) and ``invoice_in_band``. ``weeks``: period,
    start, predicted_cash (weighted, by predicted payment date), actual_cash (deal value,
    by actual payment date), per ISO week from..to.
    """

    result: BacktestResult
    deals: pd.DataFrame
    weeks: pd.DataFrame

    def errors(self) -> pd.DataFrame:
        """Long form for a histogram: engine, kind (invoice or payment), error_days."""
        parts = {
            kind: self.deals[f"{kind}_error_days"].dropna().to_numpy(dtype=np.float64)
            for kind in ("invoice", "payment")
        }
        return pd.DataFrame(
            {
                "engine": self.result.engine,
                "kind": np.repeat(list(parts), [len(v) for v in parts.values()]),
                "error_days": np.concatenate(list(parts.values())),
            }
        )


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
    return backtest_detail(
        store, from_ref, to_ref, engine=engine, assumptions=assumptions, min_samples=min_samples
    ).result


def backtest_detail(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef = "latest",
    *,
    engine: str = "rules",
    assumptions: Assumptions | None = None,
    min_samples: int | None = None,
) -> BacktestDetail:
    """``run_backtest`` with the scored deals and weekly cash behind its metrics."""
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
    frame = run.titled()

    events = invoice_events(load_history(store, end.as_of), run.assumptions)
    events = events.reindex(frame["deal_id"].astype(str))
    actual_invoice = day_array(events["invoice_event"].reset_index(drop=True))
    actual_payment = day_array(events["payment_event"].reset_index(drop=True))
    first, last = np.datetime64(start.as_of, "D"), np.datetime64(end.as_of, "D")
    forecast = (frame["kind"] == "forecast").to_numpy()
    guessed = forecast & ~frame["invoice_is_fact"].to_numpy(bool)
    invoice_scored = guessed & (actual_invoice >= first) & (actual_invoice <= last)
    paid = forecast & (actual_payment >= first) & (actual_payment <= last)
    predicted_invoice = day_array(frame["predicted_invoice_date"])
    predicted_payment = day_array(frame["predicted_payment_date"])
    in_band = (day_array(frame["invoice_p10"]) <= actual_invoice) & (
        actual_invoice <= day_array(frame["invoice_p90"])
    )

    def error(predicted: np.ndarray, actual: np.ndarray, scored: np.ndarray) -> np.ndarray:
        return np.where(scored, (predicted - actual).astype("timedelta64[D]").astype(np.float64), np.nan)

    deals = pd.DataFrame(
        {
            "deal_id": frame["deal_id"],
            "title": frame["title"],
            "stage": frame["stage"],
            "predicted_invoice": predicted_invoice,
            "actual_invoice": actual_invoice,
            "invoice_error_days": error(predicted_invoice, actual_invoice, invoice_scored),
            "invoice_in_band": np.where(invoice_scored, in_band, False),
            "predicted_payment": predicted_payment,
            "actual_payment": actual_payment,
            "payment_error_days": error(predicted_payment, actual_payment, paid),
        }
    )[invoice_scored | paid].reset_index(drop=True)
    weeks = _weekly_cash(frame, forecast, paid, predicted_payment, actual_payment, start.as_of, end.as_of)

    invoice_error = deals["invoice_error_days"].dropna().to_numpy()
    payment_error = deals["payment_error_days"].dropna().to_numpy()
    actual_total = weeks["actual_cash"].sum()
    result = BacktestResult(
        from_snapshot=start.id,
        to_snapshot=end.id,
        from_as_of=start.as_of.isoformat(),
        to_as_of=end.as_of.isoformat(),
        engine=engine,
        deals_evaluated=len(invoice_error),
        payments_evaluated=len(payment_error),
        invoice_mae_days=_mean(np.abs(invoice_error)),
        payment_mae_days=_mean(np.abs(payment_error)),
        bias_days=_mean(invoice_error),
        band_coverage=_mean(in_band[invoice_scored].astype(np.float64)),
        wape=(
            round(float((weeks["predicted_cash"] - weeks["actual_cash"]).abs().sum() / actual_total), 4)
            if actual_total > 0 else None
        ),
    )
    return BacktestDetail(result=result, deals=deals, weeks=weeks)


def _weekly_cash(frame, forecast, paid, predicted_payment, actual_payment, first, last) -> pd.DataFrame:
    """Per ISO week from..to: forecast cash (weighted, by predicted payment date) and actual cash
    (deal value, by actual payment date). WAPE is their absolute difference over the actual."""
    starts = period_starts(first, last, "week")
    edges = np.append(np.array(starts, dtype="datetime64[D]"), np.datetime64(starts[-1], "D") + 7)
    in_window = forecast & (predicted_payment >= np.datetime64(first, "D")) & (
        predicted_payment <= np.datetime64(last, "D")
    )
    weighted = frame["weighted_value"].to_numpy(dtype=np.float64)
    value = np.nan_to_num(frame["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))

    def weekly(days: np.ndarray, mask: np.ndarray, amounts: np.ndarray) -> np.ndarray:
        index = np.searchsorted(edges, days[mask], side="right") - 1
        return np.bincount(index, weights=amounts[mask], minlength=len(starts))[: len(starts)]

    return pd.DataFrame(
        {
            "period": [period_label(s, "week") for s in starts],
            "start": starts,
            "predicted_cash": weekly(predicted_payment, in_window, weighted),
            "actual_cash": weekly(actual_payment, paid, value),
        }
    )
