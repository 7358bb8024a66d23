"""Forecast: when invoices go out and cash comes in, under the user's horizon, threshold and filters.

The prediction run is computed once per (database, snapshot, engine, LLM on/off,
assumptions version) and kept process-wide (``cached_run``); every slider move only
re-aggregates that run (one DuckDB query over the run's aggregation inputs, made once: a few
milliseconds even at a million deals). The deal table shows the largest deals of the selection;
the downloads hold all of them and are built only when clicked.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.cashflow.aggregate import Aggregation, period_mask
from core.cashflow.fields import PREDICTION_FIELDS
from core.cashflow.models import AssumptionsReport, ForecastOptions
from core.cashflow.reports import assumptions_report
from core.cashflow.run import PredictionRun
from core.cashflow.scope import scope_choices
from core.charts import forecast_figure
from core.errors import DealcastError
from core.formatting import money_full, money_short, plain_markdown
from views._common import (
    EMPTY_CELL,
    CachedRun,
    app_store,
    cached_run,
    download_buttons,
    llm_client,
    no_snapshot_notice,
    sidebar,
    tile_columns,
)

ENGINES = {"rules": "Rules", "learned": "Learned", "auto": "Auto"}
GRANULARITIES = {"week": "Weeks", "month": "Months"}
ALL_PERIODS = "All periods"
CHART_KEY = "forecast_chart"
#: Deals shown in the table (the largest by weighted value); downloads hold every deal.
TABLE_ROWS = 1_000
#: Page labels of the prediction fields whose names do not read well as they are.
LABELS = {
    "deal_id": "Deal", "value_base": "Value", "weighted_value": "Weighted",
    "predicted_invoice_date": "Invoice date", "predicted_payment_date": "Payment date",
    "invoice_p10": "Invoice P10", "invoice_p90": "Invoice P90", "payment_p10": "Payment P10",
    "payment_p90": "Payment P90",
}
#: The deal table: every prediction field but its kind (all are forecast), labelled.
TABLE_COLUMNS = {name: LABELS.get(name, name.replace("_", " ").capitalize())
                 for name in PREDICTION_FIELDS if name != "kind"}


def per_deal_report(run: PredictionRun) -> AssumptionsReport:
    """The assumptions report of a run with its first ``TABLE_ROWS`` deals."""
    return assumptions_report(run.assumptions, run, per_deal_limit=TABLE_ROWS)


def controls(cached: CachedRun | None) -> None:
    """Sliders, toggles and filters; values are read from ``st.session_state`` by key."""
    choices = cached.derived("scope_choices", lambda run: scope_choices(run.frame)) if cached else {}
    pipelines, owners = choices.get("pipeline", []), choices.get("owner", [])
    for key, options in (("pipelines", pipelines), ("owners", owners)):
        if key in st.session_state:  # another snapshot may not have the chosen names
            st.session_state[key] = [name for name in st.session_state[key] if name in options]
    row = st.columns([3, 3, 2])
    row[0].slider("Horizon (days)", 7, 365, 90, key="horizon")
    row[1].slider("Minimum confidence", 0.0, 1.0, 0.5, step=0.05, key="min_confidence")
    row[2].radio("Periods", list(GRANULARITIES), format_func=GRANULARITIES.get, horizontal=True,
                 key="granularity")
    row = st.columns([3, 3, 2])
    row[0].radio("Engine", list(ENGINES), format_func=ENGINES.get, horizontal=True, key="engine")
    row[1].multiselect("Pipelines", pipelines, key="pipelines", placeholder="All pipelines")
    row[2].multiselect("Owners", owners, key="owners", placeholder="All owners")
    row = st.container(horizontal=True)
    row.toggle("Weighted", value=True, key="weighted",
               help="On: each deal's value times its probability. Off: full values.")
    if llm_client().enabled:
        row.toggle("Refine with the LLM", value=False, key="use_llm",
                   help="Asks the LLM about unknown-stage and stuck deals, in batches.")


def tiles(agg: Aggregation, currency: str, weighted: bool, invoices: bool) -> None:
    totals = agg.totals
    suffix = "" if weighted else "_unweighted"
    cols = tile_columns(5)
    cols[0].metric("Expected invoices", money_short(totals[f"invoice_value{suffix}"], currency))
    cols[1].metric("Cash in", money_short(totals[f"cash_in{suffix}"], currency),
                   help="From the pipeline and from open invoices (receivables) together.")
    owed = (f"{totals['receivable_count']:,} open invoices expected to be paid in the chart's periods "
            "(Receivables page). The rest is pipeline cash." if invoices else
            "No invoice list loaded: load one on the Receivables page to add open invoices' cash.")
    cols[2].metric("of which receivables", money_short(totals["cash_in_receivables"], currency), help=owed)
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
        mask = period_mask(run.frame, agg.included, period["start"], period["end"])
        what = f"invoiced or paying in {chosen} ({period['start']} to {period['end']})"
    count = int(mask.sum())
    table = run.largest(mask, TABLE_COLUMNS, TABLE_ROWS)
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
            "Probability": st.column_config.NumberColumn(format="percent"),
            "Reasoning": st.column_config.TextColumn(width="large"),
        },
    )
    name = f"forecast-{run.as_of}-{'all' if chosen == ALL_PERIODS else chosen}"
    download_buttons(lambda: run.largest(mask, TABLE_COLUMNS).rename(columns=TABLE_COLUMNS), name, "download")


def assumptions(cached: CachedRun) -> None:
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
        report = cached.derived("per_deal_report", per_deal_report)
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
    state = st.session_state
    use_llm = bool(state.get("use_llm", False)) and llm_client().enabled
    progress_slot = st.empty()
    try:
        cached = cached_run(snapshot.id, state.get("engine", "rules"), use_llm=use_llm, slot=progress_slot)
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
                              granularity=state["granularity"], pipeline=state["pipelines"],
                              owner=state["owners"])
    agg = run.aggregate(options)
    weighted = state["weighted"]
    tiles(agg, currency, weighted, run.receivables is not None)
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
