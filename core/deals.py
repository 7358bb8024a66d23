"""The canonical deal schema, shared by ingest, store, forecast, writer and charts.

One row per deal. Dates are calendar days (UTC), money is a float in the deal's own
currency plus ``value_base`` in the base currency, ids are strings (Pipedrive ids are
ints, HubSpot ids overflow int64 in some tools, other CRMs use letters), and every
source column that has no canonical home is kept in ``extra`` as a JSON object.
"""

from __future__ import annotations

import pandas as pd

#: Canonical column -> DuckDB type. The order here is the order everywhere.
DEAL_COLUMNS: dict[str, str] = {
    "deal_id": "VARCHAR",
    "title": "VARCHAR",
    "pipeline": "VARCHAR",
    "stage": "VARCHAR",
    "status": "VARCHAR",
    "value": "DOUBLE",
    "currency": "VARCHAR",
    "value_base": "DOUBLE",
    "probability": "DOUBLE",
    "owner": "VARCHAR",
    "organization": "VARCHAR",
    "contact": "VARCHAR",
    "created_at": "DATE",
    "updated_at": "DATE",
    "stage_changed_at": "DATE",
    "expected_close": "DATE",
    "won_at": "DATE",
    "lost_at": "DATE",
    "closed_at": "DATE",
    "invoice_date": "DATE",
    "payment_date": "DATE",
    "notes": "VARCHAR",
    "extra": "JSON",
}

TEXT_COLUMNS = tuple(name for name, kind in DEAL_COLUMNS.items() if kind in ("VARCHAR", "JSON"))
DATE_COLUMNS = tuple(name for name, kind in DEAL_COLUMNS.items() if kind == "DATE")
NUMBER_COLUMNS = tuple(name for name, kind in DEAL_COLUMNS.items() if kind == "DOUBLE")

#: Values of ``status``. A deal with no status column is open.
STATUSES = ("open", "won", "lost", "deleted")


def empty_deals() -> pd.DataFrame:
    """A frame with the canonical columns and dtypes and no rows."""
    return conform(pd.DataFrame({name: [] for name in DEAL_COLUMNS}))


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order, with canonical dtypes.

    Missing columns are added as nulls; columns outside the schema are dropped (callers
    put those in ``extra`` first). Dates become ``datetime64[s]`` at midnight, numbers
    ``float64``, text pandas strings.
    """
    out = pd.DataFrame(index=frame.index)
    for name, kind in DEAL_COLUMNS.items():
        column = frame[name] if name in frame.columns else pd.Series(None, index=frame.index)
        if kind == "DATE":
            out[name] = pd.to_datetime(column, errors="coerce").astype("datetime64[s]").dt.normalize()
        elif kind == "DOUBLE":
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            out[name] = column.astype("string")
    return out.reset_index(drop=True)
