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

from __future__ import annotations

from core.lazy import lazy_exports

#: The snapshot kind of invoice lists (what ``Store.list_snapshots(kind=...)`` takes).
KIND = "invoices"

#: Public name -> the module of this package that defines it, imported on first use: a forecast
#: reads invoices (``invoices``) without loading the file readers of the ingest.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("ingest_invoice_bytes", "ingest_invoice_file"), "ingest"),
    **dict.fromkeys(
        (
            "AGING_BUCKETS",
            "INVOICE_COLUMNS",
            "MAPPABLE_INVOICE_COLUMNS",
            "aging",
            "conform_invoices",
            "load_invoices",
            "open_at",
        ),
        "invoices",
    ),
    "INVOICE_PRESET_NAMES": "presets",
}

__all__ = sorted([*_EXPORTS, "KIND"])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
