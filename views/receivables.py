"""Receivables: open invoices by age, when they should be collected, how each customer pays, and how
well that behaviour predicted past payments.

An invoice snapshot's open invoices, learned behaviour and cash-in items are computed once per
(database, snapshot, assumptions version) with the forecast's own functions
(``resolve_receivables``, ``predict_receivables``); the backtest once per as-of date.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core.cashflow.behaviour import MIN_CUSTOMER_SAMPLES
from core.cashflow.collections import days_to_pay_sample, default_backtest_as_of, expected_collections
from core.cashflow.payment_backtest import PaymentBacktestResult, backtest_payments
from core.cashflow.receivable_cash import predict_receivables
from core.cashflow.receivables import ReceivableFlag, Receivables, resolve_receivables
from core.charts import aging_figure, collections_figure, days_to_pay_figure
from core.config import get_settings
from core.errors import DealcastError
from core.formatting import money_full, money_short, plain_markdown
from core.receivables import KIND, aging
from core.store import Snapshot, Store
from views._common import (
    EMPTY_CELL,
    app_store,
    cashflow_service,
    download_buttons,
    sidebar,
    tile_columns,
)
from views._invoice_upload import FLASH_KEY, PICKER_KEY, empty_state, upload_section

GRANULARITIES = {"week": "Weeks", "month": "Months"}
BEHAVIOUR_COLUMNS = {
    "customer": "Customer",
    "invoices": "Paid invoices",
    "median_days_to_pay": "Median days to pay",
    "p10_days_to_pay": "P10",
    "p90_days_to_pay": "P90",
    "share_late": "Share late",
    "source": "Source",
}


@st.cache_resource(show_spinner="Learning payment behaviour…", max_entries=8)
def _receivables_for(database: str, snapshot_id: int, assumptions_version: int
                     ) -> tuple[Receivables, pd.DataFrame]:
    store = app_store()
    a = cashflow_service().assumptions
    as_of = store.get_snapshot(snapshot_id).as_of
    found = resolve_receivables(store, snapshot_id, as_of, default_terms=a.default_payment_days,
                                min_samples=MIN_CUSTOMER_SAMPLES)
    return found, predict_receivables(found, a)


def receivables_of(snapshot_id: int) -> tuple[Receivables, pd.DataFrame]:
    """The snapshot's invoices and behaviour as a forecast on its as-of date sees them, and the
    open invoices as the forecast's cash-in items."""
    version = cashflow_service().assumptions.version
    return _receivables_for(get_settings().db, snapshot_id, version)


@st.cache_resource(show_spinner="Backtesting payment behaviour…", max_entries=16)
def _backtest_for(database: str, snapshot_id: int, as_of: dt.date, assumptions_version: int
                  ) -> PaymentBacktestResult:
    invoices = receivables_of(snapshot_id)[0].invoices
    terms = cashflow_service().assumptions.default_payment_days
    return backtest_payments(invoices, as_of, default_terms=terms, snapshot_id=snapshot_id)


def backtest_of(snapshot_id: int, as_of: dt.date) -> PaymentBacktestResult:
    return _backtest_for(get_settings().db, snapshot_id, as_of, cashflow_service().assumptions.version)


def snapshot_label(snapshot: Snapshot) -> str:
    by = f" · by {snapshot.uploaded_by}" if snapshot.uploaded_by else ""
    return f"#{snapshot.id} · as of {snapshot.as_of} · {snapshot.file_name}{by}"


def snapshot_picker(store: Store) -> int:
    snapshots = store.list_snapshots(kind=KIND)
    labels = {s.id: snapshot_label(s) for s in reversed(snapshots)}
    if st.session_state.get(PICKER_KEY) not in labels:
        st.session_state[PICKER_KEY] = snapshots[-1].id
    return st.selectbox("Invoice snapshot", list(labels), format_func=labels.get, key=PICKER_KEY)


def aging_section(found: Receivables, currency: str) -> None:
    st.subheader("Aging")
    buckets = aging(found.invoices, found.as_of)
    st.caption(f"Open invoices on {found.as_of} by days past their due date "
               f"({int(buckets['invoices'].sum()):,} invoices, "
               f"{money_full(float(buckets['amount_base'].sum()), currency)}).")
    for col, row in zip(tile_columns(len(buckets)), buckets.itertuples(), strict=True):
        col.metric(row.bucket, money_short(row.amount_base, currency), help=f"{row.invoices:,} invoices, "
                   f"{money_full(row.amount_base, currency)}")
    st.plotly_chart(aging_figure(buckets, currency=currency), key="aging_chart")


def collections_section(found: Receivables, items: pd.DataFrame, currency: str) -> None:
    st.subheader("Expected collections")
    granularity = st.radio("Per", list(GRANULARITIES), format_func=GRANULARITIES.get, horizontal=True,
                           key="collections_granularity")
    periods = expected_collections(items, found.as_of, granularity)
    rolled = int(((items["flag_bits"].to_numpy() & int(ReceivableFlag.OVERDUE_ROLLED)) != 0).sum())
    expected = money_full(float(periods["cash_in_receivables"].sum()), currency)
    st.caption(f"{len(items):,} open invoices, {expected} expected, on the dates the forecast uses "
               f"(due date + the customer's usual lateness); {rolled:,} of them already past "
               f"that date count from {found.as_of}.")
    st.plotly_chart(collections_figure(periods, currency=currency), key="collections_chart")
    table = pd.DataFrame({
        "Period": periods["period"],
        "From": periods["start"],
        "Invoices": periods["receivable_count"],
        "Expected": [money_full(v, currency) for v in periods["cash_in_receivables"]],
        "P10": [money_full(v, currency) for v in periods["cash_in_p10"]],
        "P90": [money_full(v, currency) for v in periods["cash_in_p90"]],
    })
    st.dataframe(table, hide_index=True, placeholder=EMPTY_CELL, key="collections_table")
    download_buttons(lambda: items.drop(columns=["flag_bits"]), f"receivables-{found.as_of}",
                     "download_receivables")


def behaviour_section(found: Receivables) -> None:
    st.subheader("How customers pay")
    model = found.behaviour
    st.caption(f"Learned from invoices paid by {model.as_of}. A customer with fewer than "
               f"{model.min_samples} undisputed paid invoices uses all customers' figures (fallback).")
    table = model.table().loc[:, list(BEHAVIOUR_COLUMNS)].rename(columns=BEHAVIOUR_COLUMNS)
    st.dataframe(table, hide_index=True, placeholder=EMPTY_CELL, key="behaviour_table",
                 column_config={"Share late": st.column_config.NumberColumn(format="percent"),
                                **{name: st.column_config.NumberColumn(format="%.0f")
                                   for name in ("Median days to pay", "P10", "P90")}})
    top = st.slider("Customers in the chart", 1, 20, 10, key="top_customers",
                    help="The customers with the most paid invoices.")
    sample = days_to_pay_sample(found.invoices, model, top)
    if sample.empty:
        st.caption("No paid invoices to learn from yet.")
        return
    st.plotly_chart(days_to_pay_figure(sample), key="days_to_pay_chart")


def backtest_section(found: Receivables, snapshot_id: int) -> None:
    st.subheader("Backtest")
    st.caption("Learn only from invoices paid by the date below, predict when every invoice issued after it "
               "was paid, and compare with the paid dates.")
    issued = found.invoices["invoice_date"].dropna()
    default = default_backtest_as_of(found.invoices)
    if default is None:
        st.caption("No invoices to backtest.")
        return
    as_of = st.date_input("Learn as of", value=default, min_value=issued.min().date(),
                          max_value=issued.max().date(), key="backtest_as_of")
    result = backtest_of(snapshot_id, as_of)
    if not result.invoices_evaluated:
        st.info(f"No invoice issued after {as_of} has been paid yet: pick an earlier date.")
        return
    days = "—" if result.mae_days is None else f"{result.mae_days:.1f} days"
    cols = tile_columns(6)
    cols[0].metric("Invoices evaluated", f"{result.invoices_evaluated:,}")
    for col, label, value in (
        (cols[1], "MAE learned", result.mae_days),
        (cols[2], "MAE fixed terms", result.mae_days_fixed_terms),
        (cols[3], "MAE due date", result.mae_days_due_date),
        (cols[4], "Bias", result.bias_days),
    ):
        col.metric(label, "—" if value is None else f"{value:.1f} days")
    coverage = result.band_coverage
    cols[5].metric("P10–P90 coverage", "—" if coverage is None else f"{coverage:.0%}")
    st.caption(f"Learned from {result.invoices_learned:,} paid invoices "
               f"({result.customers_learned} customers with their own figures); "
               f"fixed terms = invoice date + {result.fixed_terms_days} days. "
               f"Learned behaviour is off by {days} on average; positive bias = cash came earlier than "
               "predicted.")


def main() -> None:
    store = app_store()
    sidebar(store)
    st.title("Receivables")
    st.caption("Invoices already sent are the nearest cash. Load an invoice list to see its aging, when it "
               "should be collected and how each customer really pays.")
    if FLASH_KEY in st.session_state:
        st.success(st.session_state.pop(FLASH_KEY))
    upload_section(store)
    st.divider()
    if not store.list_snapshots(kind=KIND):
        empty_state(store)
        return
    snapshot_id = snapshot_picker(store)
    try:
        found, items = receivables_of(snapshot_id)
    except DealcastError as exc:
        st.error(plain_markdown(exc))
        return
    currency = cashflow_service().assumptions.base_currency
    aging_section(found, currency)
    collections_section(found, items, currency)
    behaviour_section(found)
    backtest_section(found, snapshot_id)


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests may import the helpers above
    main()
