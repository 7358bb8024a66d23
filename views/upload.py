"""Upload: read a CRM export, show what was detected and rejected, save it as a snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import streamlit as st

from core.bootstrap import load_sample_data
from core.cashflow.assumptions import upload_rates
from core.currency import RateTable
from core.formatting import plain_markdown
from core.ingest import IngestError, ParsedExport, ingest_bytes, parse_export
from core.ingest.errors import MissingColumnsError
from core.ingest.mapping import MAPPABLE_COLUMNS
from core.store import Store
from views._access import signed_in_email
from views._common import EMPTY_CELL, app_store, choose_snapshot, download_buttons, ingest_counts, sidebar

SOURCES = ("auto", "pipedrive", "hubspot", "salesforce", "generic")
#: Rows shown in the preview; the whole file is still parsed and saved.
PREVIEW_ROWS = 50
#: Rejected rows shown in a table (a broken million-row file could reject them all).
REJECT_ROWS = 1_000
NOT_MAPPED = "(not mapped)"
FLASH_KEY = "upload_flash"


@st.cache_resource(max_entries=4, show_spinner="Reading the file…", hash_funcs={RateTable: repr})
def preview(sha256: str, data: bytes, file_name: str, source: str, mapping_json: str,
            rates: RateTable | None) -> ParsedExport:
    """Parse once per (bytes, source, mapping, rates): reruns never re-read the upload."""
    return parse_export(data, file_name, source=source, mapping=json.loads(mapping_json) or None, rates=rates)


def mapping_key(sha256: str) -> str:
    return f"mapping:{sha256}"


def mapping_editor(sha256: str, headers: list[str], current: dict[str, str], expanded: bool) -> None:
    """Let the user say which column feeds each deal field; applied on the next run."""
    with st.expander("Column mapping", expanded=expanded):
        st.caption("Which column of the file feeds each deal field. The mapping is remembered "
                   "for files with the same headers.")
        table = pd.DataFrame({
            "deal field": list(MAPPABLE_COLUMNS),
            "file column": [current.get(name, NOT_MAPPED) for name in MAPPABLE_COLUMNS],
        })
        edited = st.data_editor(
            table,
            key=f"mapping_editor:{sha256}",
            hide_index=True,
            disabled=["deal field"],
            column_config={"file column": st.column_config.SelectboxColumn(
                options=[NOT_MAPPED, *headers], required=True)},
        )
        if st.button("Apply mapping", key="apply_mapping"):
            st.session_state[mapping_key(sha256)] = {
                field: ("" if column == NOT_MAPPED else column)
                for field, column in zip(edited["deal field"], edited["file column"], strict=True)
            }
            st.rerun()


def show_parsed(parsed: ParsedExport) -> None:
    st.subheader(f"{plain_markdown(parsed.file_name)}: {parsed.source}")
    detection = parsed.detection
    if detection.get("evidence"):
        st.caption(f"Detected {detection.get('detected_source')}: {plain_markdown(detection['evidence'])}")
    ingest_counts(parsed.rows_read, parsed.rows_loaded, parsed.rows_rejected, parsed.warnings, "Rows to load")
    shown = min(PREVIEW_ROWS, parsed.rows_loaded)
    st.markdown(f"**Preview** (first {shown} of {parsed.rows_loaded:,} deals)")
    st.dataframe(parsed.deals.head(PREVIEW_ROWS), hide_index=True, placeholder=EMPTY_CELL)
    if parsed.rows_rejected:
        st.markdown("**Rejected rows** (kept with their reason; they are not loaded)")
        rejects_table(parsed.rejects.head(REJECT_ROWS), parsed.rows_rejected)
        download_buttons(lambda: parsed.rejects, f"{parsed.file_name}-rejected", "download_preview_rejects")


def rejects_table(rejects: pd.DataFrame, total: int) -> None:
    """The first ``REJECT_ROWS`` rejected rows, saying how many there are when that is not all."""
    if total > len(rejects):
        st.caption(f"The first {len(rejects):,} of {total:,} rejected rows; the downloads hold all of them.")
    st.dataframe(rejects, hide_index=True, placeholder=EMPTY_CELL)


def save(store: Store, data: bytes, parsed: ParsedExport, mapping: dict[str, str], as_of: dt.date,
         rates: RateTable | None) -> None:
    with st.status("Saving the snapshot…", expanded=True) as status:
        st.write(f"Writing {parsed.rows_loaded:,} deals and {parsed.rows_rejected:,} rejected rows.")
        result = ingest_bytes(store, data, parsed.file_name, source=parsed.source, as_of=as_of,
                              mapping=mapping or None, rates=rates, uploaded_by=signed_in_email())
        status.update(label=f"Saved snapshot {result.snapshot_id}", state="complete")
    choose_snapshot(result.snapshot_id)  # the uploader sees their upload, whoever uploads next
    st.success(f"Saved snapshot {result.snapshot_id}: {result.rows_loaded:,} deals loaded, "
               f"{result.rows_rejected:,} rejected.")


def upload_section(store: Store) -> None:
    left, right = st.columns([3, 1])
    uploaded = left.file_uploader("CRM deal export", type=["csv", "tsv", "txt", "xlsx"], key="upload")
    source = right.selectbox("Source", SOURCES, key="source", help="'auto' detects the CRM from the headers.")
    if uploaded is None:
        return
    data = uploaded.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    mapping = st.session_state.get(mapping_key(sha256), {})
    rates = upload_rates(store)
    try:
        parsed = preview(sha256, data, uploaded.name, source, json.dumps(mapping, sort_keys=True), rates)
    except MissingColumnsError as exc:
        st.error(plain_markdown(exc))
        mapping_editor(sha256, exc.found, mapping, expanded=True)
        return
    except IngestError as exc:
        st.error(plain_markdown(exc))
        return
    mapping_editor(sha256, parsed.detection["headers"], parsed.mapping, expanded=parsed.source == "generic")
    show_parsed(parsed)
    duplicate = store.find_snapshot_by_sha(sha256)
    if duplicate is not None:
        st.info(f"This exact file is already loaded as snapshot {duplicate.id} (as of {duplicate.as_of}).")
        return
    as_of = st.date_input("As-of date", value=parsed.as_of_guess or dt.date.today(), key="as_of",
                          help="The day this export describes; forecasts count from it.")
    if st.button("Save snapshot", type="primary", key="save_snapshot"):
        save(store, data, parsed, mapping, as_of, rates)


def snapshots_section(store: Store) -> None:
    st.subheader("Snapshots")
    snapshots = store.list_snapshots()
    if not snapshots:
        st.caption("None yet.")
        return
    table = pd.DataFrame([
        # The counts before the file name: at 1024 px a long name pushed "rejected" out of view.
        {"id": s.id, "as of": s.as_of, "read": s.rows_read, "loaded": s.rows_loaded,
         "rejected": s.rows_rejected, "source": s.source, "file": s.file_name, "label": s.label or "",
         "uploaded by": s.uploaded_by}
        for s in reversed(snapshots)
    ])
    st.dataframe(table, hide_index=True, placeholder=EMPTY_CELL)
    names = {s.id: f"#{s.id} — {s.file_name} (as of {s.as_of})" for s in reversed(snapshots)}
    chosen = st.selectbox("Snapshot", list(names), format_func=names.get, key="manage_snapshot")
    picked = next(s for s in snapshots if s.id == chosen)
    # Read (and unpack) the original only when clicked: a million-deal export is hundreds of MB.
    st.download_button("Download original file", lambda: store.raw_file(chosen)[1],
                       file_name=picked.file_name, key="download_original", on_click="ignore")
    with st.expander("Rejected rows of this snapshot"):
        rejects_table(store.load_rejects(chosen, limit=REJECT_ROWS), picked.rows_rejected)
        download_buttons(lambda: store.load_rejects(chosen), f"snapshot-{chosen}-rejected",
                         "download_rejects")
    confirm = st.checkbox(f"Yes, delete snapshot {chosen} and everything stored with it",
                          key="confirm_delete")
    if st.button("Delete snapshot", disabled=not confirm, key="delete_snapshot"):
        store.delete_snapshot(chosen, deleted_by=signed_in_email())
        st.session_state.pop("confirm_delete", None)
        st.rerun()


store = app_store()
sidebar(store)
st.title("Upload")
st.caption("Drop a Pipedrive, HubSpot, Salesforce or any CSV/XLSX deal export. "
           "Each upload becomes a dated snapshot.")

if FLASH_KEY in st.session_state:
    st.success(st.session_state.pop(FLASH_KEY))
if not store.list_snapshots():
    st.info("No data yet. Upload an export below, or start with the bundled sample.")
    if st.button("Load sample data", type="primary", key="load_sample"):
        with st.spinner("Loading the sample exports…"):
            results = load_sample_data(store, uploaded_by=signed_in_email())
        rows = sum(r.rows_loaded for r in results)
        # Rerun so the sidebar and every widget see the new snapshots; the message survives it.
        st.session_state[FLASH_KEY] = f"Loaded {len(results)} sample snapshots ({rows:,} deal rows)."
        st.rerun()

upload_section(store)
st.divider()
snapshots_section(store)
