"""Deal: one deal's history across snapshots, its prediction and why, its notes, and writer actions.

Find a deal by id or title and pick it by "id — title" (a snapshot may hold a million deals,
so the picker lists the first matches, not all), or link here with ``?deal=<id>``. The
prediction is the snapshot's cached forecast (engine auto, no LLM), else a forecast of this
deal alone. Writer results are kept per (snapshot, deal, action) in the session, so a rerun
never calls the LLM again; with the LLM off they are template results, and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core.charts import stage_timeline_figure
from core.config import get_settings
from core.deal_history import DEAL_OPTIONS_LIMIT, deal_history, deal_options
from core.errors import DealcastError
from core.formatting import money_full, money_short, plain_markdown
from core.writer import WriterResult, build_context, get_writer_service, load_deal
from core.writer.records import DealRecord
from views._common import EMPTY_CELL, app_store, deal_run, no_snapshot_notice, sidebar

ENGINE = "auto"
DEAL_KEY = "deal_id"
SEARCH_KEY = "deal_search"
#: The deal last written to the URL, so a changed ``?deal=`` (a link) is told apart from our own.
LINKED_KEY = "deal_linked"
RESULTS_KEY = "deal_writer_results"

#: Button label -> (context kind for ``build_context``, writer method name).
ACTIONS: dict[str, tuple[str, str]] = {
    "Summary": ("summarize", "summarize_deal_sync"),
    "Health": ("health", "analyze_deal_health_sync"),
    "Compliance": ("compliance", "analyze_compliance_sync"),
    "Email": ("email", "draft_email_sync"),
    "Reminder": ("reminder", "draft_reminder_sync"),
}
#: Result fields that are bookkeeping, not content.
HIDDEN_FIELDS = {"confidence", "warnings", "source", "language", "deal_id", "deal_ids", "body_html"}

HISTORY_TABLE = {
    "as_of": "As of",
    "snapshot_id": "Snapshot",
    "stage": "Stage",
    "status": "Status",
    "value_base": "Value",
    "probability": "Probability",
    "owner": "Owner",
    "expected_close": "Expected close",
    "invoice_date": "Invoice date",
    "payment_date": "Payment date",
}


@st.cache_data(show_spinner=False, max_entries=64)
def cached_options(
    database: str, snapshot_id: int, search: str, include: str | None
) -> tuple[pd.DataFrame, int]:
    return deal_options(app_store(), snapshot_id, search, include=include, limit=DEAL_OPTIONS_LIMIT)


def pick_deal(snapshot_id: int) -> str | None:
    """The search box and deal selectbox; ``?deal=`` chooses the deal when it changed since we
    last wrote it. None when no deal matches."""
    linked = st.query_params.get("deal")
    if linked is not None and linked != st.session_state.get(LINKED_KEY):
        st.session_state[DEAL_KEY] = linked
        st.session_state[SEARCH_KEY] = ""
    search = st.text_input("Find a deal", key=SEARCH_KEY, placeholder="id or part of the title")
    # Without a search the chosen (or linked) deal stays listed; a search lists its matches.
    include = None if search.strip() else st.session_state.get(DEAL_KEY)
    options, matching = cached_options(get_settings().db, snapshot_id, search, include)
    if options.empty:
        st.info(f"No deal of snapshot #{snapshot_id} has {plain_markdown(repr(search))} in its id or title.")
        return None
    ids = options["deal_id"].tolist()
    labels = dict(zip(ids, options["label"].tolist(), strict=True))
    if st.session_state.get(DEAL_KEY) not in labels:
        st.session_state[DEAL_KEY] = ids[0]
    deal_id = st.selectbox("Deal", ids, format_func=labels.get, key=DEAL_KEY)
    if matching > len(ids):
        st.caption(f"Listing {len(ids):,} of {matching:,} matching deals; type to narrow the list.")
    st.query_params["deal"] = deal_id
    st.session_state[LINKED_KEY] = deal_id
    return deal_id


def date_text(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def show_header(record: DealRecord, currency: str) -> None:
    columns = [*st.columns(2), *st.columns(2)]  # four in a row broke "SAR 161K" in two at 1024 px
    columns[0].metric("Stage", record.get("stage") or "—", border=True)
    columns[1].metric("Status", record.get("status") or "—", border=True)
    columns[2].metric("Value", money_short(record.get("value_base"), currency), border=True,
                      help=money_full(record.get("value_base"), currency))
    days = record.days_in_stage
    columns[3].metric("Days in stage", "—" if days is None else str(days), border=True,
                      help=f"Counted to the snapshot's as-of date, {record.as_of}.")
    facts = [f"{label}: {record.get(name)}" for label, name in
             (("Organization", "organization"), ("Owner", "owner"), ("Pipeline", "pipeline"),
              ("Contact", "contact")) if record.get(name)]
    if facts:
        st.text(" · ".join(facts))


def show_history(history: pd.DataFrame, total_snapshots: int, currency: str) -> None:
    st.subheader("History across snapshots")
    st.caption(f"Seen in {len(history)} of {total_snapshots} snapshots up to this one.")
    st.plotly_chart(stage_timeline_figure(history), key="deal_timeline")
    table = history.loc[:, list(HISTORY_TABLE)].rename(columns=HISTORY_TABLE)
    table["Value"] = history["value_base"].map(lambda v: money_full(v, currency))
    for column in ("As of", "Expected close", "Invoice date", "Payment date"):
        table[column] = table[column].dt.strftime("%Y-%m-%d")
    st.dataframe(table.iloc[::-1], hide_index=True,
                 placeholder=EMPTY_CELL, width="stretch", key="deal_history")


def show_prediction(prediction: pd.Series | None, currency: str) -> None:
    st.subheader("Prediction")
    if prediction is None:
        st.info("This deal has no prediction in the snapshot's forecast.")
        return
    kind = str(prediction["kind"])
    if kind == "forecast":
        columns = st.columns(4)
        columns[0].metric("Invoice date", date_text(prediction["predicted_invoice_date"]), border=True,
                          help=f"P10–P90: {date_text(prediction['invoice_p10'])} to "
                               f"{date_text(prediction['invoice_p90'])}")
        columns[1].metric("Payment date", date_text(prediction["predicted_payment_date"]), border=True,
                          help=f"P10–P90: {date_text(prediction['payment_p10'])} to "
                               f"{date_text(prediction['payment_p90'])}")
        columns[2].metric("Confidence", f"{prediction['confidence']:.2f}", border=True)
        columns[3].metric("Weighted value", money_short(prediction["weighted_value"], currency), border=True,
                          help=money_full(prediction["weighted_value"], currency))
    elif kind == "received":
        received = date_text(prediction["predicted_payment_date"])
        st.success(f"Cash received on {received}: reported, not forecast.")
    else:
        st.info("Not forecast: the deal is closed without cash to come.")
    st.caption(f"Method: {prediction['method']} (engine {ENGINE})")
    st.text(str(prediction["reasoning"]))
    flags = str(prediction["flags"] or "")
    if flags:
        st.caption("Flags: " + ", ".join(flag.replace("_", " ") for flag in flags.split(",")))


def show_notes(record: DealRecord) -> None:
    st.subheader("Notes")
    if not record.notes:
        st.caption("No notes in this export.")
        return
    notes = pd.DataFrame(
        {
            "Date": [date_text(note.date) for note in record.notes],
            "Author": [note.author or "" for note in record.notes],
            "Note": [note.text for note in record.notes],
        }
    )
    st.dataframe(notes, hide_index=True, placeholder=EMPTY_CELL, width="stretch", key="deal_notes")


def plain(value: Any) -> str:
    """A result field (as JSON data) as plain text: lists as bullet lines, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(f"• {plain(item)}" for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {plain(v)}" for k, v in value.items())
    return "—" if value is None or value == "" else str(value)


def show_result(action: str, result: dict[str, Any]) -> None:
    """A writer result (``model_dump(mode="json")``): warnings first, then every content field as text."""
    st.markdown(f"**{action}** · source: {result['source']} · confidence {result['confidence']:.2f}")
    for warning in result["warnings"]:
        st.warning(plain_markdown(warning))
    for name, value in result.items():
        if name in HIDDEN_FIELDS:
            continue
        st.caption(name.replace("_", " ").capitalize())
        st.text(plain(value))


def write(action: str, record: DealRecord) -> WriterResult:
    kind, method = ACTIONS[action]
    context = build_context(kind, record, {})
    call: Callable[[Any], WriterResult] = getattr(get_writer_service(), method)
    return call(context)


def show_writer(snapshot_id: int, record: DealRecord) -> None:
    """The action buttons and the newest result for this deal (kept as plain data in the session)."""
    st.subheader("Write")
    results: dict[str, dict[str, Any]] = st.session_state.setdefault(RESULTS_KEY, {})
    columns = st.columns(len(ACTIONS))
    for column, action in zip(columns, ACTIONS, strict=True):
        if column.button(action, key=f"write_{ACTIONS[action][0]}", width="stretch"):
            with st.spinner(f"Writing the {action.lower()}…"):
                try:
                    result = write(action, record).model_dump(mode="json")
                except DealcastError as exc:
                    st.error(plain_markdown(exc))
                else:
                    results[f"{snapshot_id}|{record.deal_id}"] = {"action": action, "result": result}
    shown = results.get(f"{snapshot_id}|{record.deal_id}")
    if shown is None:
        st.caption("Drafts and checks for this deal, written by the LLM when it is on, "
                   "else from templates over the deal's facts and notes.")
        return
    show_result(shown["action"], shown["result"])


store = app_store()
snapshot = sidebar(store)
st.title("Deal")
if snapshot is None:
    no_snapshot_notice()
    st.stop()

if not snapshot.rows_loaded:
    st.info(f"Snapshot #{snapshot.id} holds no deals. Pick another snapshot in the sidebar or upload an "
            "export.")
    st.stop()

deal_id = pick_deal(snapshot.id)
if deal_id is None:
    st.stop()
try:
    record = load_deal(store, deal_id, snapshot.id)
    history = deal_history(store, deal_id, up_to=snapshot.as_of)
    run = deal_run(snapshot.id, deal_id, ENGINE)
except DealcastError as exc:
    st.error(plain_markdown(exc))
    st.stop()

currency = run.assumptions.base_currency
rows = run.frame[run.frame["deal_id"] == deal_id]
total = sum(1 for s in store.list_snapshots() if s.as_of <= snapshot.as_of)
show_header(record, currency)
show_history(history, total, currency)
show_prediction(rows.iloc[0] if len(rows) else None, currency)
show_notes(record)
show_writer(snapshot.id, record)
