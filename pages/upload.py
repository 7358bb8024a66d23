"""Upload: read a CRM export, show what was detected and rejected, save it as a snapshot."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core.bootstrap import load_sample_data
from core.ingest import IngestError, ParsedExport, ingest_bytes, parse_export
from pages._common import app_store, sidebar

SOURCES = ("auto", "pipedrive", "hubspot", "salesforce", "generic")
#: Rows shown in the preview; the whole file is still parsed and saved.
PREVIEW_ROWS = 50


@st.cache_resource(max_entries=4, show_spinner="Reading the file…")
def preview(sha256: str, data: bytes, file_name: str, source: str) -> ParsedExport:
    """Parse once per (bytes, source): reruns and slider moves never re-read the upload."""
    return parse_export(data, file_name, source=source)


store = app_store()
sidebar(store)
st.title("Upload")
st.caption("Drop a Pipedrive, HubSpot, Salesforce or any CSV/XLSX deal export. "
           "Each upload becomes a dated snapshot.")

if not store.list_snapshots():
    st.info("No data yet. Upload an export below, or start with the bundled sample.")
    if st.button("Load sample data", type="primary"):
        with st.spinner("Loading the sample exports…"):
            results = load_sample_data(store)
        rows = sum(r.rows_loaded for r in results)
        st.success(f"Loaded {len(results)} sample snapshots ({rows:,} deal rows).")

left, right = st.columns([3, 1])
uploaded = left.file_uploader("CRM deal export", type=["csv", "tsv", "txt", "xlsx"])
source = right.selectbox("Source", SOURCES, help="'auto' detects the CRM from the headers.")

if uploaded is not None:
    data = uploaded.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        parsed = preview(sha256, data, uploaded.name, source)
    except IngestError as exc:
        st.error(str(exc))
    else:
        st.subheader(f"{uploaded.name}: detected {parsed.source}")
        evidence = parsed.detection.get("evidence")
        if evidence:
            st.caption(f"Evidence: {evidence}")
        read, rejected = parsed.rows_read, len(parsed.rejects)
        cols = st.columns(3)
        cols[0].metric("Rows read", f"{read:,}")
        cols[1].metric("Rows to load", f"{read - rejected:,}")
        cols[2].metric("Rows rejected", f"{rejected:,}")
        for warning in parsed.warnings:
            st.warning(warning)
        st.dataframe(parsed.deals.head(PREVIEW_ROWS), hide_index=True)
        if rejected:
            st.markdown("**Rejected rows**")
            st.dataframe(parsed.rejects, hide_index=True)

        duplicate = store.find_snapshot_by_sha(sha256)
        if duplicate is not None:
            st.info(f"This exact file is already loaded as snapshot {duplicate.id} "
                    f"(as of {duplicate.as_of}).")
        else:
            as_of = st.date_input("As-of date", value=parsed.as_of_guess,
                                  help="The day this export describes; forecasts count from it.")
            if st.button("Save snapshot", type="primary"):
                with st.spinner("Saving…"):
                    result = ingest_bytes(store, data, uploaded.name, source=source, as_of=as_of)
                st.success(
                    f"Saved snapshot {result.snapshot_id}: {result.rows_loaded:,} deals loaded, "
                    f"{result.rows_rejected:,} rejected."
                )

st.divider()
st.subheader("Snapshots")
snapshots = store.list_snapshots()
if not snapshots:
    st.caption("None yet.")
else:
    table = pd.DataFrame([
        {"id": s.id, "as of": s.as_of, "source": s.source, "file": s.file_name, "read": s.rows_read,
         "loaded": s.rows_loaded, "rejected": s.rows_rejected, "label": s.label or ""}
        for s in reversed(snapshots)
    ])
    st.dataframe(table, hide_index=True)
    names = {s.id: f"#{s.id} — {s.file_name} (as of {s.as_of})" for s in snapshots}
    chosen = st.selectbox("Snapshot", list(reversed(names)), format_func=names.get)
    file_name, content = store.raw_file(chosen)
    st.download_button("Download original file", content, file_name=file_name)
    with st.expander("Rejected rows of this snapshot"):
        st.dataframe(store.load_rejects(chosen), hide_index=True)
    confirm = st.checkbox(f"Yes, delete snapshot {chosen} and everything stored with it")
    if st.button("Delete snapshot", disabled=not confirm):
        store.delete_snapshot(chosen)
        st.rerun()
