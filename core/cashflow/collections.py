"""Collections from open invoices, as frames: cash per period, days-to-pay samples, a backtest date.

The figures come from the functions the forecast and the CLI use (``predict_receivables``,
``aggregate``, ``learn_behaviour``); this module shapes them for the Receivables page's tables
and charts. It lives in cashflow, above ``core.receivables`` (the invoice data), so the two
packages depend one way only.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.cashflow.aggregate import Granularity, aggregate
from core.cashflow.behaviour import BehaviourModel, learnable, organization_keys
from core.cashflow.columns import day_array
from core.cashflow.fields import PREDICTION_COLUMNS

COLLECTION_COLUMNS = ("period", "start", "end", "cash_in_receivables", "cash_in_p10", "cash_in_p90",
                      "receivable_count")


def _no_deals() -> pd.DataFrame:
    """A prediction frame without deals, so ``aggregate`` counts receivables alone."""
    frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in PREDICTION_COLUMNS})
    for name in ("value_base", "weighted_value", "confidence"):
        frame[name] = frame[name].astype(np.float64)
    frame["flag_bits"] = frame["flag_bits"].astype(np.int64)
    return frame


def expected_collections(items: pd.DataFrame, as_of: dt.date, granularity: Granularity) -> pd.DataFrame:
    """Open invoices' expected cash (``predict_receivables``' items) per week or month from ``as_of``.

    The periods run until the latest predicted payment date (P90 included), so every open
    invoice with a known amount lands in a period: the column sums reconcile with the items."""
    dates = np.concatenate([day_array(items[name]) for name in ("predicted_payment_date", "payment_p90")])
    dates = dates[~np.isnat(dates)]
    horizon = int((dates.max() - np.datetime64(as_of, "D")).astype(np.int64)) if len(dates) else 0
    periods = aggregate(_no_deals(), as_of=as_of, horizon_days=max(horizon, 0), granularity=granularity,
                        receivables=items).periods
    return periods.loc[:, list(COLLECTION_COLUMNS)]


def days_to_pay_sample(invoices: pd.DataFrame, model: BehaviourModel, top: int = 10) -> pd.DataFrame:
    """Days to pay of every invoice ``model`` learned from, for the ``top`` customers by invoice count.

    Columns ``customer`` (the model's name for the customer), ``days_to_pay`` and ``disputed``;
    customers in the order of ``model.table()`` (most invoices first)."""
    customers = model.customers.sort_values(["invoices", "customer"], ascending=[False, True]).head(top)
    paid = invoices[learnable(invoices, model.as_of)]
    keys = organization_keys(paid["customer"])
    chosen = np.isin(keys, customers.index.to_numpy(dtype=object))
    rows = paid[chosen]
    paid_on, issued = (rows[name].to_numpy(dtype="datetime64[D]") for name in ("paid_date", "invoice_date"))
    days = paid_on - issued
    sample = pd.DataFrame({
        "customer": customers["customer"].reindex(keys[chosen]).to_numpy(dtype=object),
        "days_to_pay": days.astype(np.int64),
        "disputed": rows["disputed"].to_numpy(dtype=bool),
    })
    order = {name: i for i, name in enumerate(customers["customer"])}
    return sample.sort_values("customer", key=lambda c: c.map(order), kind="stable", ignore_index=True)


def default_backtest_as_of(invoices: pd.DataFrame) -> dt.date | None:
    """The median invoice date: half the invoices are issued after it, so there is something to score."""
    issued = invoices["invoice_date"].dropna()
    if issued.empty:
        return None
    return issued.sort_values().iloc[(len(issued) - 1) // 2].date()
