"""The canonical deal schema, shared by ingest, store, forecast, writer and charts.

One row per deal. Dates are calendar days (UTC), money is a float in the deal's own
currency plus ``value_base`` in the base currency, ids are strings (Pipedrive ids are
ints, HubSpot ids overflow int64 in some tools, other CRMs use letters), and every
source column that has no canonical home is kept in ``extra`` as a JSON object.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so the schema alone (the store's DDL) loads fast
    import pandas as pd
    import pyarrow as pa

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

#: Per-deal text no forecast engine reads: the deal table, drill-down and LLM path fetch it
#: for the deals they show (``Store.deal_texts``), so a forecast never pays for a million of them.
DISPLAY_COLUMNS = ("title", "contact", "notes", "extra")
#: What the forecast engines read of each deal (``Store.load_deals(..., FORECAST_COLUMNS)``):
#: no display text, and of the close dates only the won date (the rules read status; the
#: learned engine takes a won deal without an invoice date as invoiced when it was won, and
#: reads its history from the store).
FORECAST_COLUMNS = (
    "deal_id",
    "pipeline",
    "stage",
    "status",
    "value",
    "currency",
    "value_base",
    "probability",
    "owner",
    "organization",
    "created_at",
    "updated_at",
    "stage_changed_at",
    "expected_close",
    "won_at",
    "invoice_date",
    "payment_date",
)

#: Values of ``status``. A deal with no status column is open.
STATUSES = ("open", "won", "lost", "deleted")


def empty_deals() -> pd.DataFrame:
    """A frame with the canonical columns and dtypes and no rows."""
    import pandas as pd

    return conform(pd.DataFrame({name: [] for name in DEAL_COLUMNS}))


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order, with canonical dtypes.

    Missing columns are added as nulls; columns outside the schema are dropped (callers
    put those in ``extra`` first). Dates become ``datetime64[s]`` at midnight, numbers
    ``float64``, text pandas strings.
    """
    import pandas as pd

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


def from_arrow(table: pa.Table, schema: dict[str, str] = DEAL_COLUMNS) -> pd.DataFrame:
    """The canonical frame of ``conform`` from an Arrow table of ``schema``'s columns (column ->
    DuckDB type; the deal schema by default), without Python objects: strings stay Arrow
    (pandas ``string[pyarrow]``), numbers, booleans (null is false) and dates become numpy
    (dates ``datetime64[s]``, NaT/NaN for nulls). Columns the table lacks are all-null."""
    import pandas as pd
    import pyarrow as pa

    rows = table.num_rows
    out: dict[str, object] = {}
    for name, kind in schema.items():
        column = table.column(name) if name in table.column_names else pa.chunked_array([pa.nulls(rows)])
        if kind == "DATE":
            out[name] = column.cast(pa.timestamp("s")).to_numpy()
        elif kind == "DOUBLE":
            out[name] = column.cast(pa.float64()).to_numpy()
        elif kind == "BOOLEAN":
            out[name] = column.cast(pa.bool_()).fill_null(False).to_numpy()
        else:
            out[name] = pd.arrays.ArrowStringArray(column.cast(pa.string()))
    return pd.DataFrame(out, copy=False)


def normalise_stage(name: object) -> str:
    """A stage name for matching: lower case, single spaces, no spaces around "/"; "" for no text.

    The one rule for every stage lookup (the forecast's stage table, the health thresholds):
    other spellings are matched by listing them as aliases, never by a looser rule."""
    if not isinstance(name, str):
        return ""
    text = re.sub(r"\s+", " ", name).strip().lower()
    return re.sub(r" ?/ ?", "/", text)
