"""The Overview page's numbers: headline KPIs of a forecast run and what changed between snapshots.

KPIs are read off a ``PredictionRun`` (the same frame the Forecast page aggregates), so
"cash in the next 30 days" here is exactly what Forecast shows with a 30-day horizon and
its default confidence threshold. Changes compare two snapshots' canonical deal frames
with one outer merge on ``deal_id``; a deal can show up under several kinds of change
(moved and slipped, say), one row each.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pydantic import BaseModel

from core.cashflow.fields import VALUE_FLAGS, Flag
from core.cashflow.models import ForecastOptions
from core.cashflow.run import PredictionRun
from core.store import Snapshot, Store
from core.writer.health import stage_threshold

#: Horizons (days) of the "cash expected" tiles.
CASH_HORIZONS = (30, 60, 90)

#: Kinds of change between two snapshots, in the order the page lists them.
CHANGE_KINDS = ("moved", "slipped", "won", "lost", "new", "vanished")

#: What each kind of change means, for captions.
CHANGE_TEXT = {
    "moved": "changed stage",
    "slipped": "expected close or invoice date moved later",
    "won": "became won",
    "lost": "became lost",
    "new": "not in the previous snapshot",
    "vanished": "in the previous snapshot, missing from this one",
}

#: Columns compared between the snapshots (suffixed ``_before`` / ``_after`` in the changes).
_COMPARED = ("title", "stage", "status", "value_base", "expected_close", "invoice_date")
#: Rows a page shows per kind of change: a first million-deal export is a million "new" deals.
CHANGE_ROWS = 1_000
#: The deal columns ``snapshot_changes`` reads (``Store.load_deals(snapshot, CHANGE_INPUT_COLUMNS)``).
CHANGE_INPUT_COLUMNS = ("deal_id", *_COMPARED)


class OverviewKpis(BaseModel):
    """Headline figures of one forecast run; money in the base currency."""

    snapshot_id: int | None
    as_of: dt.date
    base_currency: str
    open_count: int
    open_value: float
    weighted_value: float
    cash_expected: dict[int, float]
    overdue_count: int
    overdue_value: float
    at_risk_count: int
    at_risk_value: float
    critical_count: int


def overview_kpis(run: PredictionRun, min_confidence: float | None = None) -> OverviewKpis:
    """Open and weighted pipeline, cash expected per horizon, overdue payments, deals at risk.

    - open pipeline: open deals with a usable value (known currency, not negative);
    - weighted: the same deals times their probability (the forecast's ``weighted_value``);
    - cash expected in N days: weighted cash in the Forecast aggregation with an N-day
      horizon and ``min_confidence`` (default: the Forecast page's default);
    - overdue: forecast deals whose predicted payment was already past (rolled to as-of);
    - at risk: open deals at or past their stage's days-in-stage warning mark (DESIGN 7),
      critical at or past the critical mark.
    """
    frame = run.frame
    if min_confidence is None:
        min_confidence = ForecastOptions().min_confidence
    bits = frame["flag_bits"].to_numpy(dtype=np.int64)
    is_open = (frame["status"].str.lower() == "open").fillna(False).to_numpy(dtype=bool)
    usable = (bits & int(VALUE_FLAGS)) == 0
    value = np.nan_to_num(frame["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    weighted = frame["weighted_value"].to_numpy(dtype=np.float64)
    overdue = (frame["kind"] == "forecast").to_numpy(dtype=bool) & ((bits & int(Flag.OVERDUE_ROLLED)) != 0)
    warning, critical = _risk_marks(frame)
    risk = is_open & warning
    cash = {
        days: float(
            run.aggregate(ForecastOptions(horizon_days=days, min_confidence=min_confidence)).totals["cash_in"]
        )
        for days in CASH_HORIZONS
    }
    return OverviewKpis(
        snapshot_id=run.snapshot_id,
        as_of=run.as_of,
        base_currency=run.assumptions.base_currency,
        open_count=int((is_open & usable).sum()),
        open_value=round(float(value[is_open & usable].sum()), 2),
        weighted_value=round(float(weighted[is_open].sum()), 2),
        cash_expected=cash,
        overdue_count=int(overdue.sum()),
        overdue_value=round(float(weighted[overdue].sum()), 2),
        at_risk_count=int(risk.sum()),
        at_risk_value=round(float(value[risk & usable].sum()), 2),
        critical_count=int((is_open & critical).sum()),
    )


def _risk_marks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: days in stage at/past the stage's warning mark, and at/past its critical mark."""
    codes, stages = pd.factorize(frame["stage"])
    thresholds = [stage_threshold(str(stage)) for stage in stages]
    never = np.iinfo(np.int64).max

    def per_row(marks: list[int | None]) -> np.ndarray:
        return np.asarray([never if m is None else m for m in marks] + [never], dtype=np.int64)[codes]

    warning = per_row([t.warning if t else None for t in thresholds])
    critical = per_row([t.critical if t else None for t in thresholds])
    days = frame["days_in_stage"].to_numpy(dtype=np.int64)
    return days >= warning, days >= critical


def kpi_deltas(current: OverviewKpis, previous: OverviewKpis | None) -> dict[str, float | None]:
    """Each numeric KPI minus the previous snapshot's (None without a previous snapshot).

    Cash horizons are keyed ``cash_30``, ``cash_60``...; the rest by their field name.
    """
    now, before = _numbers(current), _numbers(previous) if previous else None
    return {name: (round(value - before[name], 2) if before else None) for name, value in now.items()}


def _numbers(kpis: OverviewKpis) -> dict[str, float]:
    plain = kpis.model_dump(
        include={
            "open_count", "open_value", "weighted_value", "overdue_count", "overdue_value",
            "at_risk_count", "at_risk_value", "critical_count",
        }
    )
    return {**plain, **{f"cash_{days}": value for days, value in kpis.cash_expected.items()}}


def previous_snapshot(store: Store, snapshot: Snapshot) -> Snapshot | None:
    """The snapshot just before ``snapshot`` in as-of order (None for the first)."""
    snapshots = store.list_snapshots(snapshot.kind)
    ids = [s.id for s in snapshots]
    position = ids.index(snapshot.id)
    return snapshots[position - 1] if position > 0 else None


def snapshot_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """What changed from one canonical deals frame to the next, one row per (deal, kind of change).

    Columns: ``change`` (one of ``CHANGE_KINDS``), ``deal_id``, ``slip_days`` (slipped only:
    the larger of the expected-close and invoice-date moves), and ``<column>_before`` /
    ``<column>_after`` for title, stage, status, value_base, expected_close and invoice_date.
    Rows are ordered by kind of change, then deal id.
    """
    columns = list(CHANGE_INPUT_COLUMNS)
    merged = pd.merge(
        before.loc[:, columns].assign(_before=True),
        after.loc[:, columns].assign(_after=True),
        on="deal_id",
        how="outer",
        suffixes=("_before", "_after"),
    ).sort_values("deal_id", ignore_index=True)
    in_before = merged.pop("_before").fillna(False).astype(bool).to_numpy()
    in_after = merged.pop("_after").fillna(False).astype(bool).to_numpy()
    both = in_before & in_after

    def text(column: str, side: str) -> pd.Series:
        return merged[f"{column}_{side}"].astype("string").str.strip().str.lower().fillna("")

    def later(column: str) -> np.ndarray:
        gap = (merged[f"{column}_after"] - merged[f"{column}_before"]).dt.days
        return gap.fillna(0).to_numpy(dtype=np.int64)

    status_before, status_after = text("status", "before"), text("status", "after")
    slip = np.maximum(later("expected_close"), later("invoice_date"))
    masks = {
        "moved": both & (text("stage", "before") != text("stage", "after")).to_numpy(),
        "slipped": both & (slip > 0),
        "won": both & ((status_after == "won") & (status_before != "won")).to_numpy(),
        "lost": both & ((status_after == "lost") & (status_before != "lost")).to_numpy(),
        "new": in_after & ~in_before,
        "vanished": in_before & ~in_after,
    }
    rows = np.concatenate([np.flatnonzero(masks[kind]) for kind in CHANGE_KINDS])
    kinds = np.repeat(CHANGE_KINDS, [int(masks[kind].sum()) for kind in CHANGE_KINDS])
    changes = merged.iloc[rows].reset_index(drop=True)
    changes.insert(0, "change", pd.Categorical(kinds, categories=CHANGE_KINDS))
    changes.insert(2, "slip_days", pd.array(np.where(kinds == "slipped", slip[rows], 0), dtype="Int64"))
    changes.loc[kinds != "slipped", "slip_days"] = pd.NA
    ordered = ["change", "deal_id", "slip_days"]
    ordered += [f"{c}_{side}" for c in _COMPARED for side in ("before", "after")]
    return changes.loc[:, ordered]


def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """Number of deals per kind of change, every kind present (zero when none)."""
    counts = changes["change"].value_counts()
    return {kind: int(counts.get(kind, 0)) for kind in CHANGE_KINDS}
