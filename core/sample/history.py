"""``generate_history``: K weekly Pipedrive exports of the same evolving deals."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import InputError
from core.sample import catalog as cat
from core.sample.export import render_snapshot
from core.sample.simulate import simulate

#: Deals are created from this many days (times the stage-days scale, when above 1) before
#: the first snapshot, so the first export already holds plenty of won, paid and lost deals.
HISTORY_DAYS = 120
#: Largest share of messy rows accepted; beyond it the export is noise, not a realistic file.
MAX_MESSY = 0.5


@dataclass(frozen=True)
class SampleSnapshot:
    """One weekly export: its text cells as written, the truth, and the rows a reader must reject.

    ``truth`` is canonical (``core.deals.conform``), one row per export row in the same order,
    with ``value_base`` in SAR at ``SAMPLE_RATES``. ``expected_rejects`` lists the rows with an
    unusable cell: ``position`` (0-based data row), ``deal_id``, ``column`` and ``value``.
    """

    as_of: dt.date
    export: pd.DataFrame
    truth: pd.DataFrame
    expected_rejects: pd.DataFrame

    @property
    def file_stem(self) -> str:
        return f"pipedrive_deals_{self.as_of.isoformat()}"

    def loadable_truth(self) -> pd.DataFrame:
        """The truth without the rows a reader must reject: what an ingest should load."""
        keep = ~self.truth.index.isin(self.expected_rejects["position"])
        return self.truth[keep].reset_index(drop=True)


def generate_history(
    *,
    deals: int = 300,
    snapshots: int = 8,
    seed: int = 7,
    start: dt.date = dt.date(2026, 9, 7),
    interval_days: int = 7,
    stage_days_scale: float = 1.0,
    stage_days: dict[str, float] | None = None,
    messy: float = 0.03,
) -> list[SampleSnapshot]:
    """Simulate ``deals`` deals and export them on ``snapshots`` dates from ``start``.

    Mean days per stage are ``DEFAULT_STAGE_DAYS`` times ``stage_days_scale``, then any
    ``stage_days`` entries (absolute days, not scaled). The same arguments always give the
    same snapshots. Raises ``InputError`` for arguments out of range.
    """
    days = _stage_days(stage_days_scale, stage_days)
    _check(deals=deals, snapshots=snapshots, interval_days=interval_days, messy=messy)
    end = start + dt.timedelta(days=interval_days * (snapshots - 1))
    history_start = start - dt.timedelta(days=math.ceil(HISTORY_DAYS * max(1.0, stage_days_scale)))
    timeline = simulate(deals=deals, seed=seed, history_start=history_start, end=end, stage_days=days)
    history = []
    for k in range(snapshots):
        as_of = start + dt.timedelta(days=interval_days * k)
        rng = np.random.default_rng([seed, 1, k])
        export, truth, rejects = render_snapshot(timeline, as_of, rng=rng, messy=messy)
        history.append(SampleSnapshot(as_of=as_of, export=export, truth=truth, expected_rejects=rejects))
    return history


def _stage_days(scale: float, overrides: dict[str, float] | None) -> dict[str, float]:
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"stage_days_scale must be a positive number, got {scale!r}")
    days = {stage: mean * scale for stage, mean in cat.DEFAULT_STAGE_DAYS.items()}
    for stage, mean in (overrides or {}).items():
        if stage not in days:
            raise InputError(
                f"stage_days: unknown stage {stage!r}; stages with a stay are: {', '.join(days)}"
            )
        if not (math.isfinite(mean) and mean > 0):
            raise InputError(f"stage_days[{stage!r}] must be a positive number of days, got {mean!r}")
        days[stage] = float(mean)
    return days


def _check(*, deals: int, snapshots: int, interval_days: int, messy: float) -> None:
    if deals < 1:
        raise InputError(f"deals must be at least 1, got {deals}")
    if snapshots < 1:
        raise InputError(f"snapshots must be at least 1, got {snapshots}")
    if interval_days < 1:
        raise InputError(f"interval_days must be at least 1, got {interval_days}")
    if not 0 <= messy <= MAX_MESSY:
        raise InputError(f"messy must be between 0 and {MAX_MESSY}, got {messy!r}")
