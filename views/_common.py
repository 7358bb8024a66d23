"""What every page shares: process-wide services, the sidebar, and small view helpers.

Services and the DuckDB store are created once per process (``st.cache_resource``), keyed
by the configured database so a test pointing ``DEALCAST_DB`` elsewhere gets its own. The
sidebar owns the current snapshot: pages read it from ``current_snapshot()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import streamlit as st

from core.cashflow.models import PredictionOptions
from core.cashflow.run import PredictionRun
from core.cashflow.service import CashflowPredictionService
from core.config import get_settings
from core.export import KINDS, MIME_TYPES, table_bytes
from core.formatting import age_in_days, plain_markdown
from core.llm import LLMClient, get_llm_client
from core.store import Snapshot, Store, get_store

SNAPSHOT_KEY = "snapshot_id"
#: What an empty table cell shows (``st.dataframe(placeholder=...)``; Streamlit's own is "None").
EMPTY_CELL = "–"
#: The session's chosen snapshot, kept apart from the sidebar's widget: each page draws its own
#: sidebar, and Streamlit forgets a widget's value when another page runs.
CHOSEN_SNAPSHOT_KEY = "chosen_snapshot"


@st.cache_resource(show_spinner=False)
def _store_for(database: str) -> Store:
    return get_store()


def app_store() -> Store:
    """The store of the configured database, shared by every session of this process."""
    return _store_for(get_settings().db)


@st.cache_resource(show_spinner=False)
def _cashflow_service_for(database: str) -> CashflowPredictionService:
    return CashflowPredictionService(app_store())


def cashflow_service() -> CashflowPredictionService:
    """The cashflow service over ``app_store()``, one per process and database."""
    return _cashflow_service_for(get_settings().db)


@st.cache_resource(show_spinner="Forecasting this snapshot…", max_entries=8)
def _snapshot_run_for(
    database: str, snapshot_id: int, engine: str, assumptions_version: int
) -> PredictionRun:
    return cashflow_service().run(snapshot_id, PredictionOptions(engine=engine, store_results=False))


def snapshot_run(snapshot_id: int, engine: str = "auto") -> PredictionRun:
    """A snapshot's forecast with one engine and no LLM, computed once per process and
    assumptions version and not stored: what read-only pages (Overview, Deal) show."""
    version = cashflow_service().assumptions.version
    return _snapshot_run_for(get_settings().db, snapshot_id, engine, version)


def llm_client() -> LLMClient:
    """The process-wide LLM client (off, with its reason, when no key or server is set)."""
    return get_llm_client()


def current_snapshot(store: Store) -> Snapshot | None:
    """The snapshot this session picked in the sidebar (or just uploaded), else the newest;
    None when nothing is loaded."""
    snapshots = store.list_snapshots()
    if not snapshots:
        return None
    by_id = {s.id: s for s in snapshots}
    return by_id.get(st.session_state.get(CHOSEN_SNAPSHOT_KEY), snapshots[-1])


def choose_snapshot(snapshot_id: int) -> None:
    """Make ``snapshot_id`` this session's snapshot on every page (e.g. after an upload)."""
    st.session_state[CHOSEN_SNAPSHOT_KEY] = snapshot_id


def _keep_sidebar_choice() -> None:
    choose_snapshot(st.session_state[SNAPSHOT_KEY])


def sidebar(store: Store) -> Snapshot | None:
    """Draw the snapshot picker, its as-of date and the LLM status; return the snapshot."""
    snapshots = store.list_snapshots()
    with st.sidebar:
        if not snapshots:
            st.caption("No snapshot yet: load one on the Upload page.")
        else:
            labels = {s.id: f"#{s.id} · as of {s.as_of} · {s.file_name}" for s in reversed(snapshots)}
            st.session_state[SNAPSHOT_KEY] = current_snapshot(store).id
            st.selectbox("Snapshot", list(labels), format_func=labels.get, key=SNAPSHOT_KEY,
                         on_change=_keep_sidebar_choice)
        snapshot = current_snapshot(store)
        if snapshot is not None:
            st.caption(f"As of **{snapshot.as_of}** ({age_in_days(snapshot.as_of, dt.date.today())} old)")
        client = llm_client()
        if client.enabled:
            st.caption(f":green[LLM on] · {client.base_url}")
        else:
            st.caption(f":gray[LLM off] · {client.disabled_reason}")
    return snapshot


def no_snapshot_notice() -> None:
    """The empty state every data page shows: what to do next."""
    st.info("No deals loaded yet. Open **Upload** to add a CRM export or load the bundled sample data.")
    st.page_link("views/upload.py", label="Go to Upload", icon=":material/upload_file:")


def ingest_counts(read: int, loaded: int, rejected: int, warnings: list[str], loaded_label: str) -> None:
    """Row counts and file warnings of a parsed or saved upload (deals and invoice lists alike)."""
    cols = st.columns(3)
    cols[0].metric("Rows read", f"{read:,}")
    cols[1].metric(loaded_label, f"{loaded:,}")
    cols[2].metric("Rows rejected", f"{rejected:,}")
    for warning in warnings:
        st.warning(plain_markdown(warning))


def download_buttons(build: Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """CSV and XLSX download buttons for the table ``build()`` returns when one is clicked,
    formula cells neutralised and every CSV field quoted (core.export)."""
    cols = st.columns([2, 2, 5])
    for col, kind in zip(cols, KINDS, strict=False):
        col.download_button(
            f"Download {kind.upper()}", lambda kind=kind: table_bytes(build(), kind),
            file_name=f"{name}.{kind}", mime=MIME_TYPES[kind], key=f"{key}_{kind}", on_click="ignore",
        )
