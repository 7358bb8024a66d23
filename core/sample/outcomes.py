"""A single CRM export with a known truth: what a forecast from it should have predicted.

    case = generate_outcome_case(deals=3000, seed=1)
    case.export       # Pipedrive-style text cells as of case.as_of (open and closed deals)
    case.later        # the same CRM exported case.later_days later: what really happened
    case.outcomes     # per deal: the true outcome and close day, even beyond the later export

The shape is that of a plain sales CRM, not the fit-out sample of ``generate_history``: one
pipeline, a few open stages a deal moves through, a created date and a won or lost date, a
value, and no probability, invoice or payment columns. Every deal's fate is drawn when it is
created: it is won with a chance that falls with its value, and the time to close is
log-normal with a long tail, longer for deals that will be lost and for larger deals. So
among deals still open the share later won falls with their age, which is what a forecast
from one export has to learn. The sales cycle (a median of 90 days to a win) is longer than
the seed table's 45 days for an unknown stage, as a CRM's own cycle usually differs from a
default. Nothing is fitted to a public data set; the parameters are round numbers, and the
same arguments give the same frames.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.deals import conform
from core.errors import InputError

PIPELINE = "Sales"
#: Open stages in order; a won deal has passed through all of them, a lost one stops early more often.
OPEN_STAGES = ("Qualified", "Demo", "Proposal")
#: Median days from created to won and to lost, and the log-normal spread (sigma) of each.
WIN_MEDIAN_DAYS, WIN_SIGMA = 90.0, 0.9
LOSS_MEDIAN_DAYS, LOSS_SIGMA = 120.0, 1.1
#: Chance of a win for a deal of median value, and how much it falls per unit of log value.
BASE_WIN_LOGIT, VALUE_WIN_SLOPE = -0.3, -0.4
#: Larger deals take longer: durations grow by this factor of e per unit of log value.
VALUE_DAYS_SLOPE = 0.4
#: Median value and its log-normal spread.
VALUE_MEDIAN, VALUE_SIGMA = 20_000.0, 1.0
OWNERS = ("Avery", "Blake", "Casey", "Devon", "Emery")
ORGANIZATIONS = tuple(f"Customer {letter}" for letter in "ABCDEFGHIJKLMNOPQRST")


@dataclass(frozen=True)
class OutcomeCase:
    """Two exports of the same CRM and the truth behind them.

    ``export`` and ``later`` are text cells as a Pipedrive "Export deals" file has them;
    ``export_deals`` and ``later_deals`` the same as canonical frames (``core.deals``).
    ``outcomes`` has one row per deal: deal_id, created, value, won (bool), closed (the
    true won or lost day, which may lie after ``later_as_of``).
    """

    as_of: dt.date
    later_as_of: dt.date
    export: pd.DataFrame
    later: pd.DataFrame
    export_deals: pd.DataFrame
    later_deals: pd.DataFrame
    outcomes: pd.DataFrame


def generate_outcome_case(
    *,
    deals: int = 3000,
    seed: int = 1,
    as_of: dt.date = dt.date(2026, 6, 30),
    history_days: int = 730,
    later_days: int = 365,
) -> OutcomeCase:
    """Simulate ``deals`` deals created evenly over ``history_days`` before ``as_of`` and the
    ``later_days`` after it; export them on ``as_of`` and on ``as_of + later_days``."""
    if deals < 1 or history_days < 1 or later_days < 1:
        raise InputError(
            "deals, history_days and later_days must be at least 1, "
            f"got {deals}, {history_days}, {later_days}"
        )
    rng = np.random.default_rng([seed, 15])
    later_as_of = as_of + dt.timedelta(days=later_days)
    created = np.sort(rng.integers(-history_days, later_days + 1, deals))
    log_value = VALUE_SIGMA * rng.standard_normal(deals)
    value = np.round(VALUE_MEDIAN * np.exp(log_value), -1)
    win_chance = 1.0 / (1.0 + np.exp(-(BASE_WIN_LOGIT + VALUE_WIN_SLOPE * log_value)))
    won = rng.random(deals) < win_chance
    duration = np.exp(VALUE_DAYS_SLOPE * log_value) * np.where(
        won,
        WIN_MEDIAN_DAYS * np.exp(WIN_SIGMA * rng.standard_normal(deals)),
        LOSS_MEDIAN_DAYS * np.exp(LOSS_SIGMA * rng.standard_normal(deals)),
    )
    closed = created + np.maximum(np.ceil(duration), 1).astype(np.int64)
    # Stage entries as shares of the deal's life: a won deal reaches the last open stage, a lost
    # one reaches each next stage with chance 0.5.
    shares = np.sort(rng.uniform(0.1, 0.9, (deals, len(OPEN_STAGES) - 1)), axis=1)
    reaches = np.where(won[:, None], True, rng.random((deals, len(OPEN_STAGES) - 1)) < 0.5)
    reaches = np.cumprod(reaches, axis=1).astype(bool)
    entries = np.where(reaches, created[:, None] + np.floor(shares * (closed - created)[:, None]), np.nan)
    frame = pd.DataFrame(
        {
            "deal_id": (np.arange(deals) + 1).astype(str),
            "title": [f"Deal {i + 1}" for i in range(deals)],
            "owner": np.asarray(OWNERS, dtype=object)[rng.integers(0, len(OWNERS), deals)],
            "organization": np.asarray(ORGANIZATIONS, dtype=object)[
                rng.integers(0, len(ORGANIZATIONS), deals)
            ],
            "value": value,
        }
    )
    outcomes = pd.DataFrame(
        {
            "deal_id": frame["deal_id"],
            "created": _dates(as_of, created),
            "value": value,
            "won": won,
            "closed": _dates(as_of, closed),
        }
    )
    (export_deals, export), (later_deals, later) = (
        _export(frame, as_of, created, closed, won, entries, day) for day in (0, later_days)
    )
    return OutcomeCase(as_of, later_as_of, export, later, export_deals, later_deals, outcomes)


def _dates(as_of: dt.date, days: np.ndarray) -> np.ndarray:
    """Days after ``as_of`` (NaN: none) as ``datetime64[D]`` (NaT)."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
    known = ~np.isnan(days)
    out[known] = np.datetime64(as_of, "D") + days[known].astype(np.int64).astype("timedelta64[D]")
    return out


def _export(frame, as_of, created, closed, won, entries, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(canonical deals, text cells) of the deals created by ``day`` (days after as-of), seen that day."""
    rows = created <= day
    done = closed <= day
    stage_index = (np.nan_to_num(entries, nan=np.inf) <= day).sum(axis=1)
    changed = np.take_along_axis(entries, np.maximum(stage_index - 1, 0)[:, None], 1)[:, 0]
    changed = np.where(stage_index > 0, changed, np.nan)
    close_day = closed.astype(np.float64)

    def closed_if(keep: np.ndarray) -> np.ndarray:
        return _dates(as_of, np.where(keep, close_day, np.nan))

    canonical = pd.DataFrame(
        {
            **{name: frame[name] for name in ("deal_id", "title", "owner", "organization", "value")},
            "currency": "USD",
            "value_base": frame["value"],
            "pipeline": PIPELINE,
            "stage": np.asarray(OPEN_STAGES, dtype=object)[stage_index],
            "status": np.where(done, np.where(won, "won", "lost"), "open"),
            "created_at": _dates(as_of, created),
            "stage_changed_at": _dates(as_of, changed),
            "won_at": closed_if(done & won),
            "lost_at": closed_if(done & ~won),
            "closed_at": closed_if(done),
        }
    )[rows]
    deals = conform(canonical)

    def stamp(column: str) -> pd.Series:
        return deals[column].dt.strftime("%Y-%m-%d 10:00:00").fillna("")

    cells = {
        "Deal - ID": deals["deal_id"],
        "Deal - Title": deals["title"],
        "Deal - Owner": deals["owner"],
        "Deal - Value": deals["value"].map("{:.0f}".format),
        "Deal - Currency of Value": deals["currency"],
        "Deal - Pipeline": deals["pipeline"],
        "Deal - Stage": deals["stage"],
        "Deal - Status": deals["status"].str.capitalize(),
        "Deal - Deal created": stamp("created_at"),
        "Deal - Last stage change": stamp("stage_changed_at"),
        "Deal - Won time": stamp("won_at"),
        "Deal - Lost time": stamp("lost_at"),
        "Deal - Deal closed on": stamp("closed_at"),
        "Deal - Organization": deals["organization"],
    }
    return deals, pd.DataFrame(cells).astype(str)
