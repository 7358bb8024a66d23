"""Settings: the forecast assumptions (versioned), currency rates, LLM status and every setting.

Editing the tables changes nothing until **Save**: the edits are checked as a whole
(core.cashflow.edits), then saved as a new assumptions version that the next forecast
uses. The API key is never shown: only whether one is set.
"""

from __future__ import annotations

import streamlit as st

from core.cashflow.assumptions import (
    SEED_PROFILE,
    Assumptions,
    list_assumption_versions,
    load_assumptions,
    save_assumptions,
)
from core.cashflow.edits import (
    PARAMETERS,
    PAYMENT_RULES,
    RATES,
    STAGES,
    STUCK_RULES,
    AssumptionEditError,
    Table,
    apply_edits,
    changed,
    edit_frames,
)
from core.config import get_settings
from core.llm import format_circuit, llm_status
from core.settings_table import settings_table, shown_value
from core.store import Store
from views._common import EMPTY_CELL, app_store, llm_client, sidebar

FLASH_KEY = "settings_flash"
DAYS = {"min_value": 0, "step": 1, "format": "%d"}
COLUMNS = {
    STAGES.key: {
        "stage": st.column_config.TextColumn("Stage", required=True),
        "optimistic": st.column_config.NumberColumn("Optimistic (days)", required=True, **DAYS),
        "realistic": st.column_config.NumberColumn("Realistic (days)", required=True, **DAYS),
        "conservative": st.column_config.NumberColumn("Conservative (days)", required=True, **DAYS),
        "late": st.column_config.CheckboxColumn("Late stage"),
        "probability": st.column_config.NumberColumn("Win probability", min_value=0.0, max_value=1.0),
        "aliases": st.column_config.TextColumn("Aliases (comma separated)"),
    },
    PAYMENT_RULES.key: {
        "field": st.column_config.SelectboxColumn("Field", options=list(PAYMENT_RULES.columns[0].choices),
                                                  required=True),
        "pattern": st.column_config.TextColumn("Matches (regular expression)", required=True),
        "days": st.column_config.NumberColumn("Payment days", required=True, **DAYS),
    },
    STUCK_RULES.key: {
        "over_days": st.column_config.NumberColumn("Over (days in stage)", required=True, **DAYS),
        "add_days": st.column_config.NumberColumn("Add (days)", required=True, **DAYS),
        "confidence_penalty": st.column_config.NumberColumn("Confidence penalty", min_value=0.0,
                                                            max_value=1.0),
    },
    RATES.key: {
        "currency": st.column_config.TextColumn("Currency", required=True, max_chars=3),
        "rate": st.column_config.NumberColumn("Rate", required=True, min_value=0.0, format="%.6g"),
    },
    PARAMETERS.key: {
        "parameter": st.column_config.TextColumn("Parameter"),
        "value": st.column_config.NumberColumn("Value", required=True, format="%.4g"),
        "meaning": st.column_config.TextColumn("Meaning"),
    },
}


def editor_key(table: Table) -> str:
    return f"{table.key}_editor"


def editor(table: Table, frames: dict, *, fixed: bool = False) -> None:
    """Draw one table's editor and put its edited frame back into ``frames``."""
    frames[table.key] = st.data_editor(
        frames[table.key], key=editor_key(table), hide_index=True, width="stretch",
        num_rows="fixed" if fixed else "dynamic", column_config=COLUMNS[table.key],
        disabled=["parameter", "meaning"] if fixed else False, placeholder=EMPTY_CELL,
    )


def saved(store: Store, profile: Assumptions, note: str) -> None:
    """Save ``profile`` as a new version, forget the editors' edits, and say so on the next run."""
    version = save_assumptions(store, profile, note).version
    for table in (STAGES, PAYMENT_RULES, STUCK_RULES, RATES, PARAMETERS):
        st.session_state.pop(editor_key(table), None)
    st.session_state[FLASH_KEY] = f"Saved assumptions version {version}; forecasts use it from now on."
    st.rerun()


def assumptions_section(store: Store) -> None:
    current = load_assumptions(store)
    st.subheader("Forecast assumptions")
    which = "the seed profile (nothing saved yet)" if current.version == 0 else f"version {current.version}"
    st.caption(f"In force: **{which}**. Edit the tables, then save: a new version is stored and the "
               "forecast uses it; earlier versions stay in the history below.")
    frames = edit_frames(current)
    tabs = st.tabs(["Stage table", "Payment rules", "Stuck deals", "Parameters", "Currency rates"])
    with tabs[0]:
        st.caption("Days from the as-of date to the invoice, by stage: the realistic figure is the "
                   "prediction; optimistic and conservative bound the P10–P90 band.")
        editor(STAGES, frames)
    with tabs[1]:
        st.caption(f"Payment terms for matching organizations or pipelines; other deals get "
                   f"{current.default_payment_days} days (the parameter default_payment_days).")
        editor(PAYMENT_RULES, frames)
    with tabs[2]:
        st.caption("Deals longer than this in their stage are invoiced later and with less confidence; "
                   "the longest matching rule applies.")
        editor(STUCK_RULES, frames)
    with tabs[3]:
        editor(PARAMETERS, frames, fixed=True)
    with tabs[4]:
        st.markdown(f"Base currency: **{current.base_currency}**")
        settings = get_settings()
        if settings.base_currency != current.base_currency:
            st.warning(f"Uploads convert values to {settings.base_currency} (DEALCAST_BASE_CURRENCY), but "
                       f"the assumptions say {current.base_currency}: totals would be labelled wrongly.")
        st.caption(f"Units of {current.base_currency} per one unit of each currency. Uploads saved after "
                   "this version convert with these rates (snapshots already loaded keep the rates they "
                   "were loaded with). The base currency is set with DEALCAST_BASE_CURRENCY.")
        editor(RATES, frames)

    note = st.text_input("Note for this version", key="assumptions_note",
                         placeholder="e.g. Approved stage takes longer since Q3")
    save_col, reset_col = st.columns(2)
    if save_col.button("Save as a new version", key="save_assumptions", type="primary"):
        try:
            profile = apply_edits(current, frames)
        except AssumptionEditError as exc:
            st.error("The assumptions were not saved:\n\n" + "\n".join(f"- {p}" for p in exc.problems))
        else:
            if not changed(current, profile):
                st.info("Nothing changed: no new version saved.")
            else:
                saved(store, profile, note)
    if reset_col.button("Reset to the seed profile", key="reset_assumptions"):
        saved(store, SEED_PROFILE, note or "reset to the seed profile")

    with st.expander("Version history"):
        history = list_assumption_versions(store)
        if history:
            st.dataframe(history, hide_index=True, placeholder=EMPTY_CELL)
        st.caption("Version 0 is the seed profile built into Dealcast (DESIGN 5.1).")


def llm_section(store: Store) -> None:
    st.subheader("LLM")
    status = llm_status(llm_client(), store)
    if status.enabled:
        st.success(f"LLM on: {shown_value(status.base_url, secret=False)}")
    else:
        st.info(f"LLM off. {status.disabled_reason}")
    cols = st.columns(4)
    cols[0].metric("API key", "set" if status.api_key_present else "not set")
    cols[1].metric("Circuit", status.circuit_state, help=f"Circuit breaker: {format_circuit(status)}.")
    cols[2].metric("Calls logged", f"{status.calls.calls if status.calls else 0:,}")
    cols[3].metric("Cached replies", f"{status.cache_live_rows or 0:,}")
    st.dataframe([{"tier": tier, "model": model} for tier, model in status.models.items()], hide_index=True,
                 placeholder=EMPTY_CELL)


store = app_store()
sidebar(store)
st.title("Settings")
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)
assumptions_section(store)
llm_section(store)
st.subheader("All settings")
st.caption("Read from environment variables (prefix DEALCAST_) when the app starts; secrets are never shown.")
st.dataframe(settings_table(get_settings()), hide_index=True, placeholder=EMPTY_CELL)
