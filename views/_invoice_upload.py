"""The Receivables page's invoice upload: the uploader, the saved result, and the sample invoices.

Each saves one invoice list as a snapshot and makes it the page's chosen invoice snapshot
(``PICKER_KEY``); a message for the next run goes in ``FLASH_KEY``.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core.bootstrap import load_sample_invoices
from core.cashflow.assumptions import upload_rates
from core.errors import DealcastError
from core.formatting import plain_markdown
from core.ingest import IngestResult
from core.receivables import INVOICE_PRESET_NAMES, KIND, ingest_invoice_bytes
from core.store import Store
from views._access import signed_in_email
from views._common import EMPTY_CELL, download_buttons, ingest_counts

SOURCES = ("auto", *INVOICE_PRESET_NAMES)
FLASH_KEY = "invoice_flash"
#: The last saved upload: (sha256, IngestResult), shown while that file stays in the uploader.
SAVED_KEY = "invoice_saved"
PICKER_KEY = "invoice_snapshot"


def show_result(result: IngestResult) -> None:
    """Counts, warnings and rejected rows of a saved invoice list, as the deal upload shows them."""
    if result.duplicate_of is not None:
        st.info(f"This exact file is already loaded as invoice snapshot {result.duplicate_of} "
                f"(as of {result.as_of}).")
        return
    st.success(f"Saved invoice snapshot {result.snapshot_id} ({result.source}, as of {result.as_of}).")
    ingest_counts(result.rows_read, result.rows_loaded, result.rows_rejected, result.warnings,
                  "Invoices loaded")
    if result.rejects:
        st.markdown("**Rejected rows** (kept with their reason; they are not loaded)")
        rejects = pd.DataFrame([r.model_dump() for r in result.rejects])
        st.dataframe(rejects, hide_index=True, placeholder=EMPTY_CELL)
        download_buttons(lambda: rejects, f"{result.file_name}-rejected", "download_invoice_rejects")


def upload_section(store: Store) -> None:
    left, right = st.columns([3, 1])
    uploaded = left.file_uploader("Invoice list (accounts receivable)", type=["csv", "tsv", "txt", "xlsx"],
                                  key="invoice_upload")
    source = right.selectbox("Headers", SOURCES, key="invoice_source",
                             help="'auto' detects the header set; invoice_list is Invoice Number, Customer, "
                                  "Invoice Date, Due Date, Amount, Currency, Paid Date, Disputed, Deal ID.")
    if uploaded is None:
        return
    data = uploaded.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    saved = st.session_state.get(SAVED_KEY)
    if saved is not None and saved[0] == sha256:
        show_result(saved[1])
        return
    duplicate = store.find_snapshot_by_sha(sha256, kind=KIND)
    if duplicate is not None:
        st.info(f"This exact file is already loaded as invoice snapshot {duplicate.id} "
                f"(as of {duplicate.as_of}).")
        return
    st.caption(f"{plain_markdown(uploaded.name)}: {len(data):,} bytes. Every row is loaded or rejected "
               "with its reason.")
    if not st.button("Save invoices", type="primary", key="save_invoices"):
        return
    try:
        with st.status("Saving the invoice list…", expanded=True) as status:
            result = ingest_invoice_bytes(store, data, uploaded.name, source=source,
                                          rates=upload_rates(store),
                                          uploaded_by=signed_in_email())
            status.update(label=f"Saved invoice snapshot {result.snapshot_id}", state="complete")
    except DealcastError as exc:
        st.error(plain_markdown(exc))
        return
    st.session_state[SAVED_KEY] = (sha256, result)
    st.session_state[PICKER_KEY] = result.snapshot_id
    st.rerun()


def empty_state(store: Store) -> None:
    st.info("No invoice list loaded yet. Upload an accounts-receivable export above (CSV or XLSX), "
            "or start with the bundled sample invoices.")
    if st.button("Load sample invoices", type="primary", key="load_sample_invoices"):
        try:
            with st.spinner("Loading the sample invoices…"):
                result = load_sample_invoices(store, uploaded_by=signed_in_email())
        except DealcastError as exc:
            st.error(plain_markdown(exc))
            return
        st.session_state[FLASH_KEY] = (f"Loaded the sample invoice list: {result.rows_loaded:,} invoices, "
                                       f"{result.rows_rejected:,} rejected.")
        st.session_state[PICKER_KEY] = result.snapshot_id
        st.rerun()
