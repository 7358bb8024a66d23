"""Builders for invoice frames and stores holding invoice snapshots."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.receivables import conform_invoices
from core.store import NewSnapshot, Store

AS_OF = dt.date(2026, 3, 2)  # a Monday


def invoices(*rows: dict) -> pd.DataFrame:
    """A canonical invoice frame; each row defaults to an open SAR 1000 invoice issued 10 days ago,
    due 30 days after it."""
    filled = []
    for i, row in enumerate(rows):
        issued = row.get("invoice_date", AS_OF - dt.timedelta(days=10))
        base = {
            "invoice_id": f"INV-{i + 1:04d}",
            "customer": "Acme Ltd",
            "invoice_date": issued,
            "due_date": issued + dt.timedelta(days=30),
            "amount": 1000.0,
            "currency": "SAR",
            "disputed": False,
        }
        merged = {**base, **row}
        merged.setdefault("amount_base", merged["amount"])
        filled.append(merged)
    return conform_invoices(pd.DataFrame(filled))


def paid_history(customer: str, days_late: list[int], *, start: dt.date, terms: int = 30) -> list[dict]:
    """Paid invoices of one customer, one a week from ``start``, paid ``days_late`` after due."""
    rows = []
    for k, late in enumerate(days_late):
        issued = start + dt.timedelta(weeks=k)
        due = issued + dt.timedelta(days=terms)
        rows.append(
            {
                "invoice_id": f"{customer[:3].upper()}-{k:04d}",
                "customer": customer,
                "invoice_date": issued,
                "due_date": due,
                "paid_date": due + dt.timedelta(days=late),
            }
        )
    return rows


def save_invoices(store: Store, frame: pd.DataFrame, as_of: dt.date, name: str = "invoices.csv") -> int:
    """Store ``frame`` as one invoices snapshot and return its id."""
    snapshot = NewSnapshot(
        kind="invoices",
        as_of=as_of,
        source="test",
        file_name=name,
        sha256=f"{name}-{as_of}",
        rows_read=len(frame),
    )
    empty = pd.DataFrame({"row_number": [], "raw": [], "reason": []})
    return store.save_snapshot(snapshot, frame, empty, b"", rows_table="invoices").id
