"""One deal across snapshots: its stage, status, value and dates as each upload saw them.

The Deal page's timeline and history table. The writer's ``load_deal`` already gives the
deal's stage changes (for prompts); this is the full row per snapshot, for people.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.store import Store

#: Columns of a deal's history, one row per snapshot that holds the deal.
HISTORY_COLUMNS = (
    "snapshot_id",
    "as_of",
    "stage",
    "status",
    "value",
    "currency",
    "value_base",
    "probability",
    "owner",
    "stage_changed_at",
    "expected_close",
    "invoice_date",
    "payment_date",
)

_HISTORY_SQL = f"""
SELECT s.id AS snapshot_id, s.as_of, {", ".join(f"d.{c}" for c in HISTORY_COLUMNS[2:])}
FROM deals d JOIN snapshots s ON s.id = d.snapshot_id
WHERE d.deal_id = ? AND s.kind = 'deals' AND s.as_of <= ?
ORDER BY s.as_of, s.id
"""

_DATES = ("as_of", "stage_changed_at", "expected_close", "invoice_date", "payment_date")


def deal_history(store: Store, deal_id: str, up_to: dt.date | None = None) -> pd.DataFrame:
    """The deal in every deals snapshot with as-of on or before ``up_to`` (default: all), oldest first.

    An empty frame (with the columns) when no snapshot holds the deal.
    """
    up_to = up_to or dt.date.max
    frame = store.query_df(_HISTORY_SQL, [str(deal_id), up_to])
    for name in _DATES:
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[s]")
    return frame


def deal_options(store: Store, snapshot_id: int) -> pd.DataFrame:
    """``deal_id`` and a picker label ``"<id> — <title>"`` for every deal of a snapshot, by id."""
    return store.query_df(
        """SELECT deal_id, deal_id || ' — ' || coalesce(title, '(untitled)') AS label
           FROM deals WHERE snapshot_id = ? ORDER BY deal_id""",
        [snapshot_id],
    )
