"""Backtest: how good past forecasts were (DESIGN 5.5).

Forecast from an earlier snapshot with each chosen engine, and compare with what the later
snapshots show happened: invoice (or won) value error per period, cash error, date errors,
bias, band coverage and win-chance calibration, always beside the naive baseline. Results
are cached per (database, from, to, engine, assumptions version); the page shows the last
run's results until Run is pressed again.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.cashflow.backtest import BASELINE, backtest_detail
from core.charts import backtest_cash_figure, backtest_error_figure
from core.config import get_settings
from core.errors import DealcastError
from views._common import EMPTY_CELL, app_store, cashflow_service, no_snapshot_notice, sidebar

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
    "invoice_value_wape": "Invoice value WAPE",
    "wape": "Cash WAPE",
    "band_coverage": "P10–P90 coverage",
    "probability_brier": "Win chance Brier",
}
PERCENT_COLUMNS = ("Invoice value WAPE", "Cash WAPE", "P10–P90 coverage")
EXPLANATION = (
    "**MAE**: mean absolute error in days between predicted and actual dates, over the deals "
    "invoiced (paid) between the two snapshots; the invoice is the won date when the CRM has no "
    "invoice dates. **Bias**: mean of predicted minus actual invoice dates; positive means the "
    "forecast was too late. **Invoice value WAPE**: the error of the weighted value predicted to be "
    "invoiced per period against the value that was, summed over the periods, over the actual total; "
    "it scores whenever outcomes are known. **Cash WAPE**: the same for cash in per week, when payments "
    "are known. **P10–P90 coverage**: how often the actual invoice date fell inside the predicted band. "
    "**Win chance Brier**: mean squared error of the predicted win chances of the deals won or lost "
    "since. The **naive** row is the baseline: overall win rate x median time left given the deal's age."
)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_backtest(
    database: str, from_id: int, to_id: int, engine: str, assumptions_version: int
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Metrics (the naive row under ``naive``), weekly cash and date errors of one engine's backtest."""
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
    left, middle = st.columns(2)  # two to a row: "#12 · as of 2026-10-26" whole at 1024 px
    from_id = left.selectbox(
        "From snapshot (forecast made then)", starts, format_func=labels.get, key="from_snapshot"
    )
    ends = [s.id for s in snapshots if s.as_of > as_of[from_id]]
    keep_valid("to_snapshot", ends)
    to_id = middle.selectbox(
        "To snapshot (what happened by then)",
        ends,
        index=len(ends) - 1,
        format_func=labels.get,
        key="to_snapshot",
    )
    engines = st.multiselect("Engines", ENGINES, default=DEFAULT_ENGINES, key="engines")
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


def metric_rows(results) -> list[dict[str, Any]]:
    """One row per chosen engine, then the naive baseline's (once, from the first engine that has it)."""
    rows = [result for result, _, _ in results]
    baseline = next((row["naive"] for row in rows if row.get("naive")), None)
    if baseline is not None and all(row["engine"] != BASELINE for row in rows):
        rows.append(baseline)
    return rows


def calibration_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Predicted win chance against the share won, per tenth, for every engine and the CRM's own."""
    parts = [{"Probability of": row["engine"], **line} for row in rows for line in row["calibration"]]
    crm = next((row["crm_calibration"] for row in rows if row["crm_calibration"]), [])
    parts += [{"Probability of": "CRM's own", **line} for line in crm]
    columns = {"low": "From", "high": "To", "deals": "Deals", "predicted": "Predicted", "observed": "Won"}
    return pd.DataFrame(parts, columns=["Probability of", *columns]).rename(columns=columns)


def show(request: dict[str, Any], results, currency: str) -> None:
    rows = metric_rows(results)
    metrics = pd.DataFrame(rows).loc[:, list(METRICS)].rename(columns=METRICS)
    st.subheader(f"Forecast from #{request['from']}, scored against #{request['to']}")
    st.dataframe(
        metrics,
        hide_index=True, placeholder=EMPTY_CELL,
        width="stretch",
        key="backtest_metrics",
        column_config={name: st.column_config.NumberColumn(format="percent") for name in PERCENT_COLUMNS},
    )
    st.caption(EXPLANATION)
    for note in dict.fromkeys(note for row in rows for note in row["notes"]):
        st.caption(note)
    st.subheader("Win chance calibration")
    st.dataframe(calibration_table(rows), hide_index=True,
                 placeholder=EMPTY_CELL, width="stretch", key="backtest_calibration")
    if not metrics["Deals evaluated"].any() and not metrics["Payments evaluated"].any():
        st.info(
            "No deal was invoiced or paid between these snapshots, so there is nothing to score. "
            "Pick an earlier 'from' or a later 'to' snapshot."
        )
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
    st.info(
        "A backtest forecasts from an earlier snapshot and checks it against what later snapshots "
        "show happened, so it needs at least two snapshots with different as-of dates. Upload a "
        "later export of the same CRM on the **Upload** page."
    )
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
