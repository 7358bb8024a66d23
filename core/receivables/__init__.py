"""Receivables: invoice lists (accounts-receivable exports) as snapshots of kind ``invoices``.

    result = ingest_invoice_file(store, "ar/invoices.csv")        # one invoices snapshot
    invoices = load_invoices(store, result.snapshot_id)           # canonical invoice frame
    buckets = aging(invoices, as_of)                              # not due, 1-30, ..., over 90

This package holds the invoice data only (schema, presets, ingest) and imports nothing from
core.cashflow. How each customer pays is learned in core.cashflow.behaviour; open invoices enter
the cash forecast through core.cashflow.receivables, collections per period come from
core.cashflow.collections.

In the CLI: ``python -m core receivables ingest FILE``.
"""

from core.receivables.ingest import ingest_invoice_bytes, ingest_invoice_file
from core.receivables.invoices import (
    AGING_BUCKETS,
    INVOICE_COLUMNS,
    KIND,
    MAPPABLE_INVOICE_COLUMNS,
    aging,
    conform_invoices,
    load_invoices,
    open_at,
)
from core.receivables.presets import INVOICE_PRESET_NAMES

__all__ = [
    "AGING_BUCKETS",
    "INVOICE_COLUMNS",
    "INVOICE_PRESET_NAMES",
    "KIND",
    "MAPPABLE_INVOICE_COLUMNS",
    "aging",
    "conform_invoices",
    "ingest_invoice_bytes",
    "ingest_invoice_file",
    "load_invoices",
    "open_at",
]
