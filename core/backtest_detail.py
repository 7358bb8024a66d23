"""What lies behind a backtest's metrics, for the Backtest page's charts.

``core.cashflow.backtest.run_backtest`` returns the metrics (DESIGN 5.5) only. The page
also draws predicted against actual cash per week and the spread of the date errors, so
this module replays the same comparison and keeps its pieces: the scored deals with
their errors, and the weekly cash. It follows ``run_backtest`` step by step (same
forecast options, same events, same masks); a test checks that the metrics recomputed
from this detail equal ``run_backtest``'s, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.cashflow.aggregate import period_label, period_starts
from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.learned import invoice_events, load_history
from core.cashflow.models import PredictionOptions
from core.cashflow.service import CashflowPredictionService
from core.store import SnapshotRef, Store


@dataclass(frozen=True)
class BacktestDetail:
    """Scored deals and weekly cash of one engine's backtest.

    ``deals``: deal_id, title, stage, predicted/actual invoice and payment dates, and
    ``invoice_error_days`` / ``payment_error_days`` (predicted minus actual; missing when
    that date was not scored). ``weeks``: period, start, predicted_cash (weighted, by
    predicted payment date), actual_cash (deal value, by actual payment date).
    """

    engine: str
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
                "engine": self.engine,
                "kind": np.repeat(list(parts), [len(v) for v in parts.values()]),
                "error_days": np.concatenate(list(parts.values())),
            }
        )


def backtest_detail(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef = "latest",
    *,
    engine: str = "rules",
    assumptions: Assumptions | None = None,
) -> BacktestDetail:
    """Forecast from ``from_ref`` with ``engine`` and keep what it is scored on up to ``to_ref``.

    The caller validates the pair first (``run_backtest`` raises InputError when ``to``
    is not later than ``from``).
    """
    start, end = store.resolve_snapshot(from_ref), store.resolve_snapshot(to_ref)
    options = PredictionOptions(engine=engine, store_results=False)
    run = CashflowPredictionService(store, assumptions=assumptions).run(start.id, options)
    frame = run.frame
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

    def error(predicted: np.ndarray, actual: np.ndarray, scored: np.ndarray) -> np.ndarray:
        return np.where(scored, (predicted - actual).astype("timedelta64[D]").astype(np.float64), np.nan)

    scored = invoice_scored | paid
    deals = pd.DataFrame(
        {
            "deal_id": frame["deal_id"],
            "title": frame["title"],
            "stage": frame["stage"],
            "predicted_invoice": predicted_invoice,
            "actual_invoice": actual_invoice,
            "invoice_error_days": error(predicted_invoice, actual_invoice, invoice_scored),
            "invoice_in_band": np.where(
                invoice_scored,
                (day_array(frame["invoice_p10"]) <= actual_invoice)
                & (actual_invoice <= day_array(frame["invoice_p90"])),
                False,
            ),
            "predicted_payment": predicted_payment,
            "actual_payment": actual_payment,
            "payment_error_days": error(predicted_payment, actual_payment, paid),
        }
    )[scored].reset_index(drop=True)

    starts = period_starts(start.as_of, end.as_of, "week")
    edges = np.append(np.array(starts, dtype="datetime64[D]"), np.datetime64(starts[-1], "D") + 7)
    predicted_in_window = forecast & (predicted_payment >= first) & (predicted_payment <= last)
    weighted = frame["weighted_value"].to_numpy(dtype=np.float64)
    value = np.nan_to_num(frame["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))

    def weekly(days: np.ndarray, mask: np.ndarray, amounts: np.ndarray) -> np.ndarray:
        index = np.searchsorted(edges, days[mask], side="right") - 1
        return np.bincount(index, weights=amounts[mask], minlength=len(starts))[: len(starts)]

    weeks = pd.DataFrame(
        {
            "period": [period_label(s, "week") for s in starts],
            "start": starts,
            "predicted_cash": weekly(predicted_payment, predicted_in_window, weighted).round(2),
            "actual_cash": weekly(actual_payment, paid, value).round(2),
        }
    )
    return BacktestDetail(engine=engine, deals=deals, weeks=weeks)
