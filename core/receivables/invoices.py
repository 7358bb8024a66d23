"""The canonical invoice schema, loading invoices from the store, and aging buckets.

One row per invoice of an accounts-receivable export. ``invoice_id`` is text (invoice
numbers keep their leading zeros), dates are calendar days, ``amount`` is in the
invoice's own currency and ``amount_base`` in the base currency; a negative amount is a
credit note. ``paid_date`` is empty while the invoice is open; ``disputed`` is false
unless the export says otherwise; ``deal_id`` optionally links the invoice to a deal.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.deals import from_arrow
from core.store import Store

#: Canonical column -> DuckDB type (the ``invoices`` table, core/migrations.py migration 3).
INVOICE_COLUMNS: dict[str, str] = {
    "invoice_id": "VARCHAR",
    "customer": "VARCHAR",
    "invoice_date": "DATE",
    "due_date": "DATE",
    "amount": "DOUBLE",
    "currency": "VARCHAR",
    "amount_base": "DOUBLE",
    "paid_date": "DATE",
    "disputed": "BOOLEAN",
    "deal_id": "VARCHAR",
    "extra": "JSON",
}
#: Columns a user can map (``amount_base`` and ``extra`` are computed).
MAPPABLE_INVOICE_COLUMNS = tuple(name for name in INVOICE_COLUMNS if name not in ("amount_base", "extra"))
INVOICE_DATE_COLUMNS = tuple(name for name, kind in INVOICE_COLUMNS.items() if kind == "DATE")

#: Aging buckets by days past the due date (DESIGN: not due, 1-30, 31-60, 61-90, over 90).
AGING_BUCKETS = ("not due", "1-30", "31-60", "61-90", "over 90")


def conform_invoices(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the canonical invoice columns, in order, with canonical dtypes."""
    out = pd.DataFrame(index=frame.index)
    for name, kind in INVOICE_COLUMNS.items():
        column = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        if kind == "DATE":
            out[name] = pd.to_datetime(column, errors="coerce").astype("datetime64[s]").dt.normalize()
        elif kind == "DOUBLE":
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif kind == "BOOLEAN":
            out[name] = column.astype("boolean").fillna(False).astype(bool)
        else:
            out[name] = column.astype("string")
    return out.reset_index(drop=True)


def load_invoices(store: Store, snapshot_id: int) -> pd.DataFrame:
    """The canonical invoice frame of one invoices snapshot, ordered by invoice id."""
    store.get_snapshot(snapshot_id)
    columns = ", ".join(INVOICE_COLUMNS)
    table = store.query_arrow(
        f"SELECT {columns} FROM invoices WHERE snapshot_id = $1 ORDER BY invoice_id", [snapshot_id]
    )
    return from_arrow(table, INVOICE_COLUMNS)


def open_at(invoices: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Invoices issued by ``as_of`` and not paid by then (a later payment was not known yet)."""
    today = np.datetime64(as_of, "D")
    issued = invoices["invoice_date"].to_numpy(dtype="datetime64[D]")
    paid = invoices["paid_date"].to_numpy(dtype="datetime64[D]")
    return (issued <= today) & ~(paid <= today)


def aging(invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Open invoices (as of ``as_of``) per aging bucket: ``bucket``, ``invoices``, ``amount_base``.

    Days past due count from the due date; an invoice without a usable due date (none, or
    before the invoice date) is aged from its invoice date."""
    today = np.datetime64(as_of, "D")
    frame = invoices[open_at(invoices, as_of)]
    issued = frame["invoice_date"].to_numpy(dtype="datetime64[D]")
    due = frame["due_date"].to_numpy(dtype="datetime64[D]")
    due = np.where(np.isnat(due) | (due < issued), issued, due)
    late = (today - due).astype(np.int64)
    bucket = np.select([late <= 0, late <= 30, late <= 60, late <= 90], [0, 1, 2, 3], 4)
    amounts = np.nan_to_num(frame["amount_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    size = len(AGING_BUCKETS)
    return pd.DataFrame(
        {
            "bucket": list(AGING_BUCKETS),
            "invoices": np.bincount(bucket, minlength=size).astype(np.int64),
            "amount_base": np.round(np.bincount(bucket, weights=amounts, minlength=size), 2),
        }
    )
