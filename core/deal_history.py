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


#: Most deals the picker lists at once: a snapshot may hold a million, so it searches instead.
DEAL_OPTIONS_LIMIT = 500


def deal_options(
    store: Store, snapshot_id: int, search: str = "", *, include: str | None = None,
    limit: int = DEAL_OPTIONS_LIMIT,
) -> tuple[pd.DataFrame, int]:
    """Picker rows (``deal_id``, label ``"<id> — <title>"``) of a snapshot's deals, by id, and
    how many match.

    ``search`` keeps the deals whose id or title contains it (any case); at most ``limit``
    rows come back, and ``include`` (a linked or chosen deal) is among them when the
    snapshot holds it, whatever the search."""
    pattern = f"%{search.strip()}%" if search.strip() else None
    matching = "($pattern IS NULL OR deal_id ILIKE $pattern OR title ILIKE $pattern)"
    options = store.query_df(
        f"""SELECT deal_id, deal_id || ' — ' || coalesce(title, '(untitled)') AS label
            FROM deals WHERE snapshot_id = $snapshot AND ({matching} OR deal_id = $include)
            ORDER BY deal_id = $include DESC NULLS LAST, deal_id LIMIT $limit""",
        {"snapshot": snapshot_id, "pattern": pattern, "include": include, "limit": limit},
    )
    ((count,),) = store.fetchall(
        f"SELECT count(*) FROM deals WHERE snapshot_id = $snapshot AND {matching}",
        {"snapshot": snapshot_id, "pattern": pattern},
    )
    return options.sort_values("deal_id", ignore_index=True), int(count)
