"""Backtest: how good past forecasts were (DESIGN 5.5).

Forecast from an earlier snapshot with each chosen engine, and compare with what the later
snapshots show happened: date errors, bias, weekly cash error (WAPE) and band coverage.
Results are cached per (database, from, to, engine, assumptions version); the page shows
the last run's results until Run is pressed again.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.cashflow.backtest import backtest_detail
from core.charts import backtest_cash_figure, backtest_error_figure
from core.config import get_settings
from core.errors import DealcastError
from views._common import app_store, cashflow_service, no_snapshot_notice, sidebar

ENGINES = ("rules", "learned", "auto")
DEFAULT_ENGINES = ["rules", "learned"]
REQUEST_KEY = "backtest_request"

#: BacktestResult field -> column header of the metrics table.
METRICS = {
    "engine": "Engine",
    "deals_evaluated": "Deals evaluated",
    "payments_evaluated": "Payments evaluated",
    "invoice_mae_days": "Invoice MAE (days)",
    "payment_mae_days": "Payment MAE (days)",
    "bias_days": "Bias (days)",
    "wape": "WAPE",
    "band_coverage": "P10–P90 coverage",
}
EXPLANATION = (
    "**MAE**: mean absolute error in days between predicted and actual dates, over the deals "
    "invoiced (paid) between the two snapshots. **Bias**: mean of predicted minus actual invoice "
    "dates; positive means the forecast was too late. **WAPE**: the weekly cash-in error summed over "
    "the weeks, over the actual cash in. **P10–P90 coverage**: how often the actual invoice date fell "
    "inside the predicted band."
)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_backtest(
    database: str, from_id: int, to_id: int, engine: str, assumptions_version: int
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics, weekly cash and date errors of one engine's backtest."""
    detail = backtest_detail(app_store(), from_id, to_id, engine=engine)
    return detail.result.model_dump(), detail.weeks.assign(engine=engine), detail.errors()


def keep_valid(key: str, options: list[int]) -> None:
    """Forget a remembered choice that is no longer offered (snapshot deleted, other 'from')."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def choose(snapshots) -> dict[str, Any]:
    as_of = {s.id: s.as_of for s in snapshots}
    labels = {s.id: f"#{s.id} · as of {s.as_of}" for s in snapshots}
    newest = max(as_of.values())
    starts = [s.id for s in snapshots if s.as_of < newest]
    keep_valid("from_snapshot", starts)
    left, middle, right = st.columns([1, 1, 2])
    from_id = left.selectbox("From snapshot (forecast made then)", starts, format_func=labels.get,
                             key="from_snapshot")
    ends = [s.id for s in snapshots if s.as_of > as_of[from_id]]
    keep_valid("to_snapshot", ends)
    to_id = middle.selectbox("To snapshot (what happened by then)", ends, index=len(ends) - 1,
                             format_func=labels.get, key="to_snapshot")
    engines = right.multiselect("Engines", ENGINES, default=DEFAULT_ENGINES, key="engines")
    return {"from": from_id, "to": to_id, "engines": list(engines)}


def run_all(request: dict[str, Any]) -> list[tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]]:
    version = cashflow_service().assumptions.version
    database = get_settings().db
    results = []
    with st.status("Backtesting…", expanded=False) as status:
        for engine in request["engines"]:
            status.update(label=f"Backtesting the {engine} engine…")
            results.append(cached_backtest(database, request["from"], request["to"], engine, version))
        status.update(label="Backtest done", state="complete")
    return results


def non_empty(frames: list[pd.DataFrame]) -> pd.DataFrame:
    kept = [frame for frame in frames if not frame.empty]
    return pd.concat(kept, ignore_index=True) if kept else frames[0]


def show(request: dict[str, Any], results, currency: str) -> None:
    metrics = pd.DataFrame([result for result, _, _ in results]).loc[:, list(METRICS)].rename(columns=METRICS)
    st.subheader(f"Forecast from #{request['from']}, scored against #{request['to']}")
    st.dataframe(
        metrics,
        hide_index=True,
        width="stretch",
        key="backtest_metrics",
        column_config={
            "WAPE": st.column_config.NumberColumn(format="percent"),
            "P10–P90 coverage": st.column_config.NumberColumn(format="percent"),
        },
    )
    st.caption(EXPLANATION)
    if not metrics["Deals evaluated"].any() and not metrics["Payments evaluated"].any():
        st.info("No deal was invoiced or paid between these snapshots, so there is nothing to score. "
                "Pick an earlier 'from' or a later 'to' snapshot.")
        return
    st.subheader("Predicted and actual cash in per week")
    weeks = non_empty([frame for _, frame, _ in results])
    st.plotly_chart(backtest_cash_figure(weeks, currency=currency), key="backtest_cash")
    st.subheader("Date errors")
    errors = non_empty([frame for _, _, frame in results])
    st.plotly_chart(backtest_error_figure(errors), key="backtest_errors")


store = app_store()
sidebar(store)
st.title("Backtest")
snapshots = store.list_snapshots()
if not snapshots:
    no_snapshot_notice()
    st.stop()
if len({s.as_of for s in snapshots}) < 2:
    st.info("A backtest forecasts from an earlier snapshot and checks it against what later snapshots "
            "show happened, so it needs at least two snapshots with different as-of dates. Upload a "
            "later export of the same CRM on the **Upload** page.")
    st.page_link("views/upload.py", label="Go to Upload", icon=":material/upload_file:")
    st.stop()

selection = choose(snapshots)
if st.button("Run backtest", key="run_backtest", type="primary", disabled=not selection["engines"]):
    st.session_state[REQUEST_KEY] = selection
if not selection["engines"]:
    st.caption("Choose at least one engine.")
request = st.session_state.get(REQUEST_KEY)
if request is None:
    st.info("Choose the snapshots and engines, then press **Run backtest**.")
    st.stop()
if request != selection:
    st.caption("The selection changed since the last run: press **Run backtest** to update.")
try:
    results = run_all(request)
except DealcastError as exc:
    st.error(str(exc))
    st.stop()
show(request, results, cashflow_service().assumptions.base_currency)
