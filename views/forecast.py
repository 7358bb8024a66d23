"""Forecast: when invoices go out and cash comes in, under the user's horizon, threshold and filters.

The prediction run is computed once per (database, snapshot, engine, LLM on/off,
assumptions version) and kept process-wide; every slider move only re-aggregates that run
(numpy, milliseconds). The deal table shows the largest deals of the selection; the
downloads hold all of them and are built only when clicked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.cashflow.aggregate import Aggregation, aggregate
from core.cashflow.columns import day_array
from core.cashflow.models import AssumptionsReport, ForecastOptions, PredictionOptions
from core.cashflow.reports import assumptions_report
from core.cashflow.run import PredictionRun
from core.cashflow.service import CashflowPredictionService
from core.charts import forecast_figure
from core.config import get_settings
from core.errors import DealcastError
from core.formatting import money_full, money_short, plain_markdown
from views._common import (
    EMPTY_CELL,
    app_store,
    cashflow_service,
    download_buttons,
    llm_client,
    no_snapshot_notice,
    sidebar,
)

ENGINES = {"rules": "Rules", "learned": "Learned", "auto": "Auto"}
GRANULARITIES = {"week": "Weeks", "month": "Months"}
ALL_PERIODS = "All periods"
CHART_KEY = "forecast_chart"
#: Deals shown in the table (the largest by weighted value); downloads hold every deal.
TABLE_ROWS = 1_000
#: Prediction runs kept in memory per process (a 100k-deal run is a few tens of MB).
CACHED_RUNS = 6
#: Filter labels folded into one when several pipelines or owners are chosen.
CHOSEN, OTHER = "chosen", "other"
TABLE_COLUMNS = {
    "deal_id": "Deal",
    "title": "Title",
    "organization": "Organization",
    "owner": "Owner",
    "pipeline": "Pipeline",
    "stage": "Stage",
    "value_base": "Value",
    "weighted_value": "Weighted",
    "predicted_invoice_date": "Invoice date",
    "predicted_payment_date": "Payment date",
    "payment_p10": "Payment P10",
    "payment_p90": "Payment P90",
    "confidence": "Confidence",
    "method": "Method",
    "reasoning": "Reasoning",
    "flags": "Flags",
}


@dataclass
class ForecastRun:
    """A prediction run with what the controls need from it, computed once."""

    run: PredictionRun
    pipelines: list[str]
    owners: list[str]
    _report: AssumptionsReport | None = field(default=None, repr=False)

    def report(self) -> AssumptionsReport:
        """The assumptions report of this run with its first ``TABLE_ROWS`` deals, built once."""
        if self._report is None:
            self._report = assumptions_report(self.run.assumptions, self.run, per_deal_limit=TABLE_ROWS)
        return self._report


class RunCache:
    """The newest ``CACHED_RUNS`` runs by key, shared by every session of the process.

    Not ``st.cache_resource`` on the run itself: that would replay the progress bar
    updates on every cache hit.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._runs: OrderedDict[tuple, ForecastRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> ForecastRun | None:
        with self._lock:
            found = self._runs.get(key)
            if found is not None:
                self._runs.move_to_end(key)
            return found

    def put(self, key: tuple, value: ForecastRun) -> None:
        with self._lock:
            self._runs[key] = value
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)


@st.cache_resource(show_spinner=False)
def run_cache() -> RunCache:
    return RunCache(CACHED_RUNS)


def _names(column: pd.Series) -> list[str]:
    return sorted(str(name) for name in column.dropna().unique())


def forecast_run(
    service: CashflowPredictionService, snapshot_id: int, options: PredictionOptions, slot: DeltaGenerator
) -> ForecastRun:
    """The cached run for this snapshot, engine, LLM switch and assumptions version; computed on a miss.

    Progress is drawn in ``slot``, a placeholder every run creates at the same place, so the
    widgets below keep their positions whether or not this run had to forecast.
    """
    key = (get_settings().db, snapshot_id, options.engine, options.use_llm, service.assumptions.version)
    cached = run_cache().get(key)
    if cached is not None:
        return cached

    def progress(done: int, total: int, message: str) -> None:
        slot.progress(min(done / total, 1.0) if total else 0.0, text=message)

    slot.progress(0.0, text="Forecasting…")
    try:
        run = service.run(snapshot_id, options, progress=progress)
    finally:
        slot.empty()
    forecast = run.frame[run.frame["kind"] == "forecast"]
    result = ForecastRun(run, _names(forecast["pipeline"]), _names(forecast["owner"]))
    run_cache().put(key, result)
    return result


def scoped_aggregation(
    run: PredictionRun, options: ForecastOptions, pipelines: list[str], owners: list[str]
) -> Aggregation:
    """The service's aggregation, with any number of pipelines and owners chosen.

    The service filters on one value per column; several chosen values are relabelled
    ``chosen`` (the rest ``other``) so exclusions and reconciliation stay the service's own.
    """
    if not pipelines and not owners:
        return run.aggregate(options)
    relabelled = {}
    for column, chosen in (("pipeline", pipelines), ("owner", owners)):
        if chosen:
            keep = run.frame[column].isin(chosen).fillna(False).to_numpy(dtype=np.int8)
            relabelled[column] = pd.Categorical.from_codes(keep, categories=[OTHER, CHOSEN])
    frame = run.frame.assign(**relabelled)
    scope = {"pipeline": CHOSEN if pipelines else None, "owner": CHOSEN if owners else None}
    return aggregate(frame, as_of=run.as_of, receivables=run.receivables,
                     **options.model_copy(update=scope).model_dump())


def period_mask(run: PredictionRun, included: np.ndarray, start, end) -> np.ndarray:
    """Deals in the chart whose expected invoice or cash in falls in start..end (both bars)."""
    first, last = np.datetime64(start, "D"), np.datetime64(end, "D")
    invoice = day_array(run.frame["predicted_invoice_date"])
    payment = day_array(run.frame["predicted_payment_date"])
    return included & (((invoice >= first) & (invoice <= last)) | ((payment >= first) & (payment <= last)))


def deals_table(run: PredictionRun, mask: np.ndarray, limit: int | None) -> pd.DataFrame:
    """The chosen deals' dates, confidence, method and reasoning; the largest ``limit`` by weighted value."""
    rows = np.flatnonzero(mask)
    weighted = -run.frame["weighted_value"].to_numpy(dtype=np.float64, na_value=0.0)[rows]
    if limit is not None and len(rows) > limit:  # the largest first: no need to sort them all
        largest = np.argpartition(weighted, limit - 1)[:limit]
        rows, weighted = rows[largest], weighted[largest]
    rows = rows[np.argsort(weighted, kind="stable")]
    table = run.titled(run.frame[list(TABLE_COLUMNS)].take(rows).reset_index(drop=True))
    for name in ("predicted_invoice_date", "predicted_payment_date", "payment_p10", "payment_p90"):
        table[name] = day_array(table[name])
    return table


def controls(names: ForecastRun | None) -> None:
    """Sliders, toggles and filters; values are read from ``st.session_state`` by key."""
    pipelines, owners = (names.pipelines, names.owners) if names else ([], [])
    for key, options in (("pipelines", pipelines), ("owners", owners)):
        if key in st.session_state:  # another snapshot may not have the chosen names
            st.session_state[key] = [name for name in st.session_state[key] if name in options]
    row = st.columns([3, 3, 2, 2])
    row[0].slider("Horizon (days)", 7, 365, 90, key="horizon")
    row[1].slider("Minimum confidence", 0.0, 1.0, 0.5, step=0.05, key="min_confidence")
    row[2].radio("Periods", list(GRANULARITIES), format_func=GRANULARITIES.get, horizontal=True,
                 key="granularity")
    row[3].toggle("Weighted", value=True, key="weighted",
                  help="On: each deal's value times its probability. Off: full values.")
    row = st.columns([3, 3, 3, 2])
    row[0].radio("Engine", list(ENGINES), format_func=ENGINES.get, horizontal=True, key="engine")
    row[1].multiselect("Pipelines", pipelines, key="pipelines", placeholder="All pipelines")
    row[2].multiselect("Owners", owners, key="owners", placeholder="All owners")
    if llm_client().enabled:
        row[3].toggle("Refine with the LLM", value=False, key="use_llm",
                      help="Asks the LLM about unknown-stage and stuck deals, in batches.")


def tiles(agg: Aggregation, currency: str, weighted: bool) -> None:
    totals = agg.totals
    suffix = "" if weighted else "_unweighted"
    cols = st.columns(5)
    cols[0].metric("Expected invoices", money_short(totals[f"invoice_value{suffix}"], currency))
    cols[1].metric("Cash in", money_short(totals[f"cash_in{suffix}"], currency),
                   help="From the pipeline and from open invoices (receivables) together.")
    cols[2].metric("of which receivables", money_short(totals["cash_in_receivables"], currency),
                   help=f"{totals['receivable_count']:,} open invoices expected to be paid in the chart's "
                        "periods (Receivables page). The rest is pipeline cash.")
    cols[3].metric("Deals", f"{totals['deal_count']:,}")
    confidence = totals["avg_confidence"]
    cols[4].metric("Average confidence", "—" if confidence is None else f"{confidence:.2f}")


def exclusions(agg: Aggregation, currency: str) -> None:
    """What is not in the chart, and how it adds up to the whole forecast (weighted values)."""
    excluded, shown, totals = agg.excluded, agg.shown, agg.totals
    cols = st.columns(3)
    for col, label, amount in (
        (cols[0], "Below threshold", excluded["below_confidence"]),
        (cols[1], "Beyond horizon", excluded["beyond_horizon"]),
        (cols[2], "Overdue rolled in", shown["overdue_rolled_in"]),
    ):
        col.metric(label, money_short(amount["value"], currency), help=f"{amount['count']:,} deals")
    rows = [
        ("In the chart", totals["deal_count"], totals["cash_in"]),
        ("Below threshold", excluded["below_confidence"]["count"], excluded["below_confidence"]["value"]),
        ("Beyond horizon", excluded["beyond_horizon"]["count"], excluded["beyond_horizon"]["value"]),
        ("Filtered out", excluded["filtered_out"]["count"], excluded["filtered_out"]["value"]),
        ("No usable value", excluded["invalid_value"]["count"], excluded["invalid_value"]["value"]),
        ("All forecast deals", totals["forecast_deal_count"], totals["forecast_value"]),
    ]
    with st.expander("How the forecast adds up", expanded=True):
        st.dataframe(
            pd.DataFrame({
                "": [r[0] for r in rows],
                "Deals": [f"{r[1]:,}" for r in rows],
                "Weighted value": [money_full(r[2], currency) for r in rows],
            }),
            hide_index=True, placeholder=EMPTY_CELL,
            key="reconciliation",
        )
        st.caption(
            f"Of the deals in the chart, {shown['overdue_rolled_in']['count']:,} were overdue and roll "
            f"to the as-of date, {shown['already_invoiced']['count']:,} were invoiced before it. "
            f"{shown['received']['count']:,} deals already paid and {shown['not_forecast']['count']:,} lost "
            "or closed are not forecast."
        )


def _period_from_chart() -> None:
    """A click on a bar picks its period in the period selectbox (one source of truth)."""
    points = st.session_state[CHART_KEY]["selection"]["points"]
    st.session_state["period"] = str(points[0]["x"]) if points else ALL_PERIODS


def drill_down(run: PredictionRun, agg: Aggregation, currency: str) -> None:
    """The per-deal table, filtered to a period by a click or the selectbox, and the downloads."""
    labels = agg.periods["period"].tolist()
    if st.session_state.get("period", ALL_PERIODS) not in labels:
        st.session_state["period"] = ALL_PERIODS
    chosen = st.selectbox("Period", [ALL_PERIODS, *labels], key="period",
                          help="Or click a bar in the chart.")
    if chosen == ALL_PERIODS:
        mask, what = agg.included, "in the chart"
    else:
        period = agg.periods.iloc[labels.index(chosen)]
        mask = period_mask(run, agg.included, period["start"], period["end"])
        what = f"invoiced or paying in {chosen} ({period['start']} to {period['end']})"
    count = int(mask.sum())
    table = deals_table(run, mask, TABLE_ROWS)
    shown = f"the {len(table):,} largest of " if len(table) < count else ""
    st.caption(f"Showing {shown}{count:,} deals {what}; the downloads hold all of them.")
    money = st.column_config.NumberColumn(format="localized")
    st.dataframe(
        table.rename(columns=TABLE_COLUMNS),
        hide_index=True, placeholder=EMPTY_CELL,
        key="deals",
        column_config={
            "Value": st.column_config.NumberColumn(f"Value ({currency})", format="localized"),
            "Weighted": money,
            "Confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f"),
            "Reasoning": st.column_config.TextColumn(width="large"),
        },
    )
    name = f"forecast-{run.as_of}-{'all' if chosen == ALL_PERIODS else chosen}"
    download_buttons(lambda: deals_table(run, mask, None).rename(columns=TABLE_COLUMNS), name, "download")


def assumptions(cached: ForecastRun) -> None:
    """The assumptions in force; how each deal used them only on request (a dict per deal)."""
    with st.expander("Assumptions"):
        report = assumptions_report(cached.run.assumptions, None)
        st.caption(f"Assumptions version {report.assumptions_version}; values in {report.base_currency}.")
        for sentence in report.global_assumptions:
            st.text(sentence)
        st.dataframe(pd.DataFrame(report.stage_table), hide_index=True,
                     placeholder=EMPTY_CELL, key="stage_table")
        if not st.toggle("Show how the deals used them", key="explain_deals"):
            return
        report = cached.report()
        cols = st.columns(2)
        cols[0].markdown("**Confidence of the forecast deals**")
        cols[0].dataframe(
            pd.DataFrame({"Confidence": list(report.confidence_distribution),
                          "Deals": list(report.confidence_distribution.values())}),
            hide_index=True,
        )
        cols[1].markdown("**Methods used**")
        cols[1].dataframe(
            pd.DataFrame({"Method": list(report.methods), "Deals": list(report.methods.values())}),
            hide_index=True,
        )
        per_deal = pd.DataFrame(report.per_deal)
        st.caption(f"First {len(per_deal):,} of {sum(report.methods.values()):,} forecast deals.")
        st.dataframe(per_deal, hide_index=True, placeholder=EMPTY_CELL, key="per_deal_assumptions")


def main() -> None:
    st.title("Forecast")
    store = app_store()
    snapshot = sidebar(store)
    if snapshot is None:
        no_snapshot_notice()
        return
    service = cashflow_service()
    state = st.session_state
    engine = state.get("engine", "rules")
    use_llm = bool(state.get("use_llm", False)) and llm_client().enabled
    progress_slot = st.empty()
    try:
        prediction = PredictionOptions(engine=engine, use_llm=use_llm, store_results=False)
        cached = forecast_run(service, snapshot.id, prediction, progress_slot)
    except DealcastError as exc:
        controls(None)
        st.error(plain_markdown(exc))
        return
    controls(cached)
    run = cached.run
    for warning in run.warnings:
        st.warning(plain_markdown(warning))
    currency = run.assumptions.base_currency
    options = ForecastOptions(horizon_days=state["horizon"], min_confidence=state["min_confidence"],
                              granularity=state["granularity"])
    agg = scoped_aggregation(run, options, state["pipelines"], state["owners"])
    weighted = state["weighted"]
    tiles(agg, currency, weighted)
    st.plotly_chart(forecast_figure(agg.periods, currency=currency, weighted=weighted), key=CHART_KEY,
                    on_select=_period_from_chart, selection_mode="points")
    band = agg.totals
    st.caption(f"Weighted cash in between {money_full(band['cash_in_p10'], currency)} (P10, optimistic "
               f"schedule) and {money_full(band['cash_in_p90'], currency)} (P90, conservative); "
               "click a bar to see its deals.")
    exclusions(agg, currency)
    drill_down(run, agg, currency)
    assumptions(cached)


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import the helpers above
    main()
