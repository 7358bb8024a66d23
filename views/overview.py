"""Overview: the current snapshot's cash position at a glance, and what changed since the previous one.

Tiles first (deltas against the previous snapshot), then the next 90 days of invoices and
cash in, then the deals that moved, slipped, were won, lost, appeared or vanished. The
numbers come from ``core.overview`` over the snapshot's cached forecast (engine auto).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pandas as pd
import streamlit as st

from core.cashflow.models import ForecastOptions
from core.charts import cash_outlook_figure
from core.config import get_settings
from core.errors import DealcastError
from core.formatting import age_in_days, money_full, money_short, plain_markdown
from core.overview import (
    CASH_HORIZONS,
    CHANGE_INPUT_COLUMNS,
    CHANGE_KINDS,
    CHANGE_ROWS,
    CHANGE_TEXT,
    OverviewKpis,
    change_counts,
    kpi_deltas,
    overview_kpis,
    previous_snapshot,
    snapshot_changes,
)
from views._common import EMPTY_CELL, app_store, no_snapshot_notice, sidebar, snapshot_run

ENGINE = "auto"
#: The small chart's horizon (days); Forecast has the sliders.
CHART_DAYS = 90

#: Per kind of change: the columns shown (after the deal link and title) and their headers.
CHANGE_COLUMNS: dict[str, dict[str, str]] = {
    "moved": {"stage_before": "From stage", "stage_after": "To stage", "value_base_after": "Value"},
    "slipped": {
        "slip_days": "Days later",
        "expected_close_before": "Expected close was",
        "expected_close_after": "Expected close now",
        "invoice_date_before": "Invoice date was",
        "invoice_date_after": "Invoice date now",
        "value_base_after": "Value",
    },
    "won": {"stage_after": "Stage", "value_base_after": "Value"},
    "lost": {"stage_after": "Stage", "value_base_after": "Value"},
    "new": {"stage_after": "Stage", "status_after": "Status", "value_base_after": "Value"},
    "vanished": {"stage_before": "Last stage", "status_before": "Last status", "value_base_before": "Value"},
}


@st.cache_data(show_spinner=False, max_entries=16)
def cached_changes(database: str, before_id: int, after_id: int) -> pd.DataFrame:
    store = app_store()
    return snapshot_changes(
        store.load_deals(before_id, CHANGE_INPUT_COLUMNS), store.load_deals(after_id, CHANGE_INPUT_COLUMNS)
    )


def tile(column, label: str, value: str, delta: str | None, help: str, *, inverse: bool = False) -> None:
    column.metric(label, value, delta, help=help, delta_color="inverse" if inverse else "normal",
                  border=True)


def money_delta(delta: float | None, currency: str) -> str | None:
    """``+SAR 1.2M`` / ``-SAR 3K``: the sign in front, as Streamlit reads it for the arrow."""
    if delta is None:
        return None
    return ("+" if delta > 0 else "") + money_short(delta, currency)


def count_delta(delta: float | None) -> str | None:
    return None if delta is None else f"{int(delta):+d}"


def show_tiles(kpis: OverviewKpis, deltas: dict[str, float | None], since: str) -> list:
    """Three rows of three tiles (five in a row cut "SAR 22.8M" short at 1400 px); returns the
    last row's free columns (the snapshot tile goes in one)."""
    currency = kpis.base_currency
    first, cash, last = st.columns(3), st.columns(len(CASH_HORIZONS)), st.columns(3)
    tile(first[0], "Open pipeline", money_short(kpis.open_value, currency),
         money_delta(deltas["open_value"], currency),
         f"{kpis.open_count} open deals, unweighted ({money_full(kpis.open_value, currency)}); "
         f"change {since}.")
    tile(first[1], "Weighted pipeline", money_short(kpis.weighted_value, currency),
         money_delta(deltas["weighted_value"], currency),
         f"{money_full(kpis.weighted_value, currency)}: open deals times their probability (the deal's, "
         f"else the stage's); change {since}.")
    for column, days in zip(cash, CASH_HORIZONS, strict=True):
        tile(column, f"Cash in {days} days", money_short(kpis.cash_expected[days], currency),
             money_delta(deltas[f"cash_{days}"], currency),
             f"{money_full(kpis.cash_expected[days], currency)}: weighted cash expected within {days} "
             "days at confidence ≥ "
             f"{ForecastOptions().min_confidence:.2f}, as Forecast shows it; change {since}.")
    tile(first[2], "Overdue", money_short(kpis.overdue_value, currency),
         money_delta(deltas["overdue_value"], currency),
         f"{money_full(kpis.overdue_value, currency)} in {kpis.overdue_count} deals whose predicted "
         "payment date had already passed "
         f"(counted on the as-of date); change {since}.", inverse=True)
    tile(last[0], "Deals at risk", str(kpis.at_risk_count), count_delta(deltas["at_risk_count"]),
         f"Open deals at or past their stage's days-in-stage warning mark; {kpis.critical_count} past "
         f"the critical mark; {money_full(kpis.at_risk_value, currency)}; change {since}.", inverse=True)
    return last[1:]


def show_snapshot_tile(column, store, snapshot) -> None:
    newest = store.list_snapshots()[-1]
    age = age_in_days(newest.as_of, dt.date.today())
    help_text = f"Newest upload: #{newest.id}, {newest.file_name}."
    if newest.id != snapshot.id:
        help_text += f" You are viewing #{snapshot.id} (as of {snapshot.as_of})."
    column.metric("Last snapshot", str(newest.as_of), f"{age} old", delta_color="off", delta_arrow="off",
                  help=help_text, border=True)


def change_table(changes: pd.DataFrame, kind: str, currency: str) -> pd.DataFrame:
    """The first ``CHANGE_ROWS`` deals of one kind of change, as the page shows them."""
    rows = changes[changes["change"] == kind].head(CHANGE_ROWS)
    title = rows["title_after"].fillna(rows["title_before"]) if kind != "vanished" else rows["title_before"]
    table = pd.DataFrame({"Deal": "/deal?deal=" + rows["deal_id"].map(quote), "Title": title})
    for column, header in CHANGE_COLUMNS[kind].items():
        values = rows[column]
        if column.startswith("value_base"):
            values = values.map(lambda v: money_full(v, currency))
        elif pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%d")
        table[header] = values
    return table.reset_index(drop=True)


def show_changes(store, snapshot, previous, currency: str) -> None:
    if previous is None:
        st.subheader("What changed")
        st.info("This is the first snapshot. Upload a later export of the same CRM to see which deals "
                "moved, slipped, were won or lost.")
        return
    st.subheader(f"What changed since {previous.as_of}")
    changes = cached_changes(get_settings().db, previous.id, snapshot.id)
    counts = change_counts(changes)
    tabs = st.tabs([f"{kind.capitalize()} ({counts[kind]})" for kind in CHANGE_KINDS])
    for tab, kind in zip(tabs, CHANGE_KINDS, strict=True):
        with tab:
            st.caption(f"Deals that {CHANGE_TEXT[kind]}, snapshot #{previous.id} → #{snapshot.id}.")
            if not counts[kind]:
                st.caption("None.")
                continue
            if counts[kind] > CHANGE_ROWS:
                st.caption(f"The first {CHANGE_ROWS:,} of {counts[kind]:,} by deal id.")
            st.dataframe(
                change_table(changes, kind, currency),
                hide_index=True, placeholder=EMPTY_CELL,
                width="stretch",
                column_config={"Deal": st.column_config.LinkColumn("Deal", display_text=r"deal=(.*)$")},
                key=f"changes_{kind}",
            )


store = app_store()
snapshot = sidebar(store)
st.title("Overview")
if snapshot is None:
    no_snapshot_notice()
    st.stop()

try:
    run = snapshot_run(snapshot.id, ENGINE)
    kpis = overview_kpis(run)
    previous = previous_snapshot(store, snapshot)
    before = overview_kpis(snapshot_run(previous.id, ENGINE)) if previous else None
except DealcastError as exc:
    st.error(plain_markdown(exc))
    st.stop()

since = f"since {previous.as_of}" if previous else "no earlier snapshot to compare"
spare = show_tiles(kpis, kpi_deltas(kpis, before), since)
show_snapshot_tile(spare[0], store, snapshot)

st.subheader(f"Next {CHART_DAYS} days")
outlook = run.aggregate(ForecastOptions(horizon_days=CHART_DAYS))
st.plotly_chart(cash_outlook_figure(outlook.periods, currency=kpis.base_currency), key="overview_chart")
st.caption(f"Weighted, confidence ≥ {ForecastOptions().min_confidence:.2f}, as of {snapshot.as_of}. "
           "Open **Forecast** to change the horizon, threshold and filters.")

show_changes(store, snapshot, previous, kpis.base_currency)
