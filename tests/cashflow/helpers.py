"""Builders for canonical deal frames and multi-snapshot stores used by the cashflow tests."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.deals import conform
from core.store import NewSnapshot, Store

AS_OF = dt.date(2026, 3, 2)  # a Monday


def deals(*rows: dict) -> pd.DataFrame:
    """A canonical frame; each row defaults to an open SAR 1000 deal created 10 days ago."""
    base = {
        "status": "open",
        "value": 1000.0,
        "currency": "SAR",
        "value_base": 1000.0,
        "created_at": AS_OF - dt.timedelta(days=10),
        "stage_changed_at": AS_OF - dt.timedelta(days=5),
    }
    filled = [{"deal_id": str(i + 1), "title": f"Deal {i + 1}", **base, **row} for i, row in enumerate(rows)]
    return conform(pd.DataFrame(filled))


def days_ago(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def days_ahead(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


def save(store: Store, frame: pd.DataFrame, as_of: dt.date, name: str = "deals.csv") -> int:
    """Store ``frame`` as one snapshot and return its id."""
    snapshot = NewSnapshot(
        as_of=as_of, source="test", file_name=name, sha256=f"{name}-{as_of}", rows_read=len(frame)
    )
    empty = pd.DataFrame({"row_number": [], "raw": [], "reason": []})
    return store.save_snapshot(snapshot, frame, empty, b"").id


def save_history(store: Store, history) -> list[int]:
    """Store every generated snapshot's canonical truth; returns the ids in as-of order."""
    return [save(store, snap.truth, snap.as_of, f"s{k}.csv") for k, snap in enumerate(history)]
