"""Backtest of payment behaviour without look-ahead: learn as of a date, predict what came after.

``backtest_payments(invoices, as_of)`` learns only from invoices issued and paid by
``as_of`` (``behaviour.learn_behaviour`` ignores everything later) and predicts the payment
date of every invoice issued after ``as_of`` that was later paid (credit notes and payments
dated before their invoice are not scored). Three predictions are compared with the paid
dates, as mean absolute error in days:

- ``mae_days``: the learned behaviour (due date + the customer's median days late);
- ``mae_days_fixed_terms``: invoice date + the configured default terms (37 days);
- ``mae_days_due_date``: "pays on the due date".

``bias_days`` is the learned model's mean of predicted minus actual (positive: it expected
the cash later than it came), ``band_coverage`` the share of payments inside its P10..P90.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pydantic import BaseModel

from core.cashflow.behaviour import MIN_CUSTOMER_SAMPLES, due_dates, learn_behaviour
from core.cashflow.receivable_cash import predict_payment_dates


class PaymentBacktestResult(BaseModel):
    """How well each way of predicting payment dates did on the invoices after ``as_of``."""

    as_of: dt.date
    snapshot_id: int | None = None
    invoices_learned: int
    customers_learned: int
    invoices_evaluated: int
    evaluated_with_own_history: int
    mae_days: float | None
    mae_days_fixed_terms: float | None
    mae_days_due_date: float | None
    bias_days: float | None
    band_coverage: float | None
    fixed_terms_days: int
    min_samples: int


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 2) if len(values) else None


def backtest_payments(
    invoices: pd.DataFrame,
    as_of: dt.date,
    *,
    default_terms: int = 37,
    min_samples: int = MIN_CUSTOMER_SAMPLES,
    snapshot_id: int | None = None,
) -> PaymentBacktestResult:
    """Learn from what was known on ``as_of``; score the payments of invoices issued after it."""
    model = learn_behaviour(invoices, as_of, min_samples=min_samples, default_terms=default_terms)
    issued = invoices["invoice_date"].to_numpy(dtype="datetime64[D]")
    paid = invoices["paid_date"].to_numpy(dtype="datetime64[D]")
    amount = invoices["amount"].to_numpy(dtype=np.float64, na_value=np.nan)
    scored = (issued > np.datetime64(as_of, "D")) & (paid >= issued) & (amount > 0)
    later = invoices[scored].reset_index(drop=True)
    actual = paid[scored]
    dates = predict_payment_dates(later, model)
    due, _ = due_dates(later, default_terms)
    fixed = issued[scored] + np.timedelta64(default_terms, "D")

    def errors(predicted: np.ndarray) -> np.ndarray:
        return (predicted - actual).astype(np.float64)

    learned = errors(dates.predicted)
    inside = (dates.p10 <= actual) & (actual <= dates.p90)
    return PaymentBacktestResult(
        as_of=as_of,
        snapshot_id=snapshot_id,
        invoices_learned=int(model.customers["invoices"].sum()),
        customers_learned=len(model.learned()),
        invoices_evaluated=len(later),
        evaluated_with_own_history=int(dates.own.sum()),
        mae_days=_mean(np.abs(learned)),
        mae_days_fixed_terms=_mean(np.abs(errors(fixed))),
        mae_days_due_date=_mean(np.abs(errors(due))),
        bias_days=_mean(learned),
        band_coverage=_mean(inside.astype(np.float64)),
        fixed_terms_days=default_terms,
        min_samples=min_samples,
    )
