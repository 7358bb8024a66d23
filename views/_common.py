"""What every page shares: process-wide services, the sidebar, and small view helpers.

Services and the DuckDB store are created once per process (``st.cache_resource``), keyed
by the configured database so a test pointing ``DEALCAST_DB`` elsewhere gets its own. The
sidebar owns the current snapshot: pages read it from ``current_snapshot()``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

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
#: Prediction runs kept in memory per process (a 100k-deal run is a few tens of MB).
CACHED_RUNS = 8
T = TypeVar("T")
#: Metric tiles per row: at 1024 px five in a row cut their labels and break "SAR 18.6M" in two.
TILES_PER_ROW = 3


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


class CachedRun:
    """A prediction run, and what pages derive from it (filter choices, reports), each built once."""

    def __init__(self, run: PredictionRun) -> None:
        self.run = run
        self._derived: dict[str, object] = {}
        self._lock = threading.Lock()

    def derived(self, name: str, build: Callable[[PredictionRun], T]) -> T:
        """``build(run)``, computed on the first call for ``name`` and kept with the run."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = build(self.run)
            return self._derived[name]  # type: ignore[return-value]


class RunCache:
    """The newest ``CACHED_RUNS`` runs by key, shared by every session of the process.

    Not ``st.cache_resource`` on the run itself: that would replay the progress bar
    updates on every cache hit.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._runs: OrderedDict[tuple, CachedRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> CachedRun | None:
        with self._lock:
            found = self._runs.get(key)
            if found is not None:
                self._runs.move_to_end(key)
            return found

    def put(self, key: tuple, value: CachedRun) -> None:
        with self._lock:
            self._runs[key] = value
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _run_cache() -> RunCache:
    return RunCache(CACHED_RUNS)


def cached_run(snapshot_id: int, engine: str = "auto", *, use_llm: bool = False,
               slot: DeltaGenerator | None = None) -> CachedRun:
    """A snapshot's forecast (not stored), computed once per process, database, engine, LLM
    switch and assumptions version; every page reads the same run.

    On a miss, progress is drawn in ``slot`` (a placeholder the page creates at the same place
    on every run, so the widgets below keep their positions), else under a spinner."""
    service = cashflow_service()
    key = _run_key(service, snapshot_id, engine, use_llm)
    found = _run_cache().get(key)
    if found is not None:
        return found
    options = PredictionOptions(engine=engine, use_llm=use_llm, store_results=False)
    if slot is None:
        with st.spinner("Forecasting this snapshot…"):
            run = service.run(snapshot_id, options)
    else:
        def progress(done: int, total: int, message: str) -> None:
            slot.progress(min(done / total, 1.0) if total else 0.0, text=message)

        slot.progress(0.0, text="Forecasting…")
        try:
            run = service.run(snapshot_id, options, progress=progress)
        finally:
            slot.empty()
    found = CachedRun(run)
    _run_cache().put(key, found)
    return found


def _run_key(service: CashflowPredictionService, snapshot_id: int, engine: str, use_llm: bool) -> tuple:
    return (get_settings().db, snapshot_id, engine, use_llm, service.assumptions.version)


def deal_run(snapshot_id: int, deal_id: str, engine: str = "auto") -> PredictionRun:
    """One deal's forecast with one engine and no LLM: the snapshot's run when a page already
    made it (``cached_run``), else a run of that deal alone, also kept (a deal's prediction
    depends on its own row and the store's history only, so it is the same row). The Deal
    page needs no million-deal run."""
    service = cashflow_service()
    whole = _run_cache().get(_run_key(service, snapshot_id, engine, False))
    if whole is not None:
        return whole.run
    key = (*_run_key(service, snapshot_id, engine, False), "deal", deal_id)
    found = _run_cache().get(key)
    if found is None:
        options = PredictionOptions(engine=engine, store_results=False)
        with st.spinner("Forecasting this deal…"):
            found = CachedRun(service.run(snapshot_id, options, deal_ids=[deal_id]))
        _run_cache().put(key, found)
    return found.run


def snapshot_run(snapshot_id: int, engine: str = "auto") -> PredictionRun:
    """A snapshot's forecast with one engine and no LLM (``cached_run``): what read-only
    pages (Overview, Deal) show."""
    return cached_run(snapshot_id, engine).run


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


def tile_columns(count: int) -> list[DeltaGenerator]:
    """Columns for ``count`` metric tiles in rows of at most ``TILES_PER_ROW``, all one width."""
    return [column for start in range(0, count, TILES_PER_ROW)
            for column in st.columns(TILES_PER_ROW)[: count - start]]


def download_buttons(build: Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """CSV and XLSX download buttons for the table ``build()`` returns when one is clicked,
    formula cells neutralised and every CSV field quoted (core.export)."""
    row = st.container(horizontal=True)  # each button as wide as its label, never cut
    for kind in KINDS:
        row.download_button(
            f"Download {kind.upper()}", lambda kind=kind: table_bytes(build(), kind),
            file_name=f"{name}.{kind}", mime=MIME_TYPES[kind], key=f"{key}_{kind}", on_click="ignore",
        )
