"""Simulate every sample deal's whole life once; snapshots are views of it at later cut-offs.

Time is a float day count from ``Timeline.epoch``: the integer part is the calendar day and
the fraction the moment within working hours (see ``export.timestamp_text``). A deal is
created, enters its first stage, and at each stage either is lost or moves on after a dwell
drawn around the stage's mean days (log-normal, so means hold exactly and a few deals stall
for a long time), times a per-deal pace shared by all its stages (slow clients are slow
everywhere). Reaching Invoice Issued marks the deal Won; after the customer's payment delay
it moves to Payment Received.

Every random draw is made for all deals at every stage whatever the stage means are, so a
different ``stage_days`` changes only the timing, never which deals are lost or where they go.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.sample import catalog as cat

#: Spread of one stay in a stage (sigma of the log); 0.8 gives a long tail of stalled deals.
STAY_SIGMA = 0.8
#: Spread of a deal's pace across all its stages.
PACE_SIGMA = 0.3
#: Spread of a customer's payment delay around its terms.
PAYMENT_SIGMA = 0.35
#: Share of new deals that come in as purchase orders straight into Projects, and as
#: already qualified sales leads; the rest start at Lead In.
DIRECT_ORDER_SHARE, QUALIFIED_START_SHARE = 0.5, 0.1


@dataclass(frozen=True)
class Timeline:
    """All deals' lives. ``deals`` has one row per deal in id order; ``stage_events`` one row
    per stage entry (``deal`` is the row position in ``deals``), sorted by deal then time."""

    epoch: dt.date
    deals: pd.DataFrame
    stage_events: pd.DataFrame


def expected_days_to_invoice(stage_days: dict[str, float] | None = None) -> dict[str, float]:
    """Expected days from entering each stage to Invoice Issued, for deals that get there.

    The "true" stage table of a history generated with these mean days (default
    ``DEFAULT_STAGE_DAYS``), comparable with DESIGN 5.1's realistic column.
    """
    days = {**cat.DEFAULT_STAGE_DAYS, **(stage_days or {})}
    remaining = {"Invoice Issued": 0.0}
    for stage in reversed(cat.STAGES[: cat.STAGE_INDEX["Invoice Issued"]]):
        after = sum(share * remaining[nxt] for nxt, share in cat.NEXT_STAGES[stage])
        rework = cat.REWORK_SHARE * days["Under Progress"] if stage == "Awaiting MDD" else 0.0
        remaining[stage] = days[stage] + rework + after
    return {stage: remaining[stage] for stage in cat.STAGES if stage in remaining}


def _log_normal(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """Factors with mean exactly 1."""
    return np.exp(sigma * rng.standard_normal(n) - sigma * sigma / 2)


def _pick(rng: np.random.Generator, weights: tuple[float, ...] | list[float], n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def simulate(
    *, deals: int, seed: int, history_start: dt.date, end: dt.date, stage_days: dict[str, float]
) -> Timeline:
    """Create ``deals`` deals between ``history_start`` and ``end`` and play out their lives."""
    rng = np.random.default_rng([seed, 0])
    n = deals
    span = (end - history_start).days + 1
    created = np.sort(rng.uniform(0.0, span, n))
    frame = _static_attributes(rng, n)
    frame.insert(0, "deal_id", np.arange(n) + 1001)
    frame["created"] = created

    start = rng.random(n)
    first_stage = np.where(
        start < DIRECT_ORDER_SHARE, cat.STAGE_INDEX["Order Received"],
        np.where(start < DIRECT_ORDER_SHARE + QUALIFIED_START_SHARE, cat.STAGE_INDEX["Qualified"],
                 cat.STAGE_INDEX["Lead In"]),
    )
    pace = _log_normal(rng, PACE_SIGMA, n)
    is_aramco = frame["organization"].str.lower().str.contains("aramco").to_numpy()
    payment_mean = np.where(is_aramco, cat.PAYMENT_DAYS["aramco"], cat.PAYMENT_DAYS["default"])

    entry = np.full((n, len(cat.STAGES)), np.nan)
    entry[np.arange(n), first_stage] = created
    lost_t = np.full(n, np.nan)
    events = []  # (deal positions, times, stage index)
    for s, stage in enumerate(cat.STAGES):
        here = ~np.isnan(entry[:, s])
        events.append((np.flatnonzero(here), entry[here, s], s))
        if stage not in cat.NEXT_STAGES:
            continue
        stay = _log_normal(rng, STAY_SIGMA, n)
        loss_draw, next_draw, rework_draw = rng.random(n), rng.random(n), rng.random(n)
        rework_stay = _log_normal(rng, STAY_SIGMA, n) * pace * stage_days["Under Progress"]
        if stage == "Invoice Issued":
            dwell = payment_mean * _log_normal(rng, PAYMENT_SIGMA, n)
        else:
            dwell = stage_days[stage] * stay * pace
        leave = entry[:, s] + dwell

        lost = here & (loss_draw < cat.LOSS_SHARE.get(stage, 0.0))
        lost_t[lost] = leave[lost]
        moving = here & ~lost
        if stage == "Awaiting MDD":
            rework = moving & (rework_draw < cat.REWORK_SHARE)
            back = entry[:, s] + dwell / 2
            again = back + rework_stay
            rows = np.flatnonzero(rework)
            events.append((rows, back[rework], cat.STAGE_INDEX["Under Progress"]))
            events.append((rows, again[rework], s))
            leave = np.where(rework, again + dwell / 2, leave)
        options = cat.NEXT_STAGES[stage]
        bounds = np.cumsum([share for _, share in options])
        choice = np.minimum(np.searchsorted(bounds, next_draw, side="right"), len(options) - 1)
        for i, (nxt, _) in enumerate(options):
            chosen = moving & (choice == i)
            entry[chosen, cat.STAGE_INDEX[nxt]] = leave[chosen]

    frame["lost_t"] = lost_t
    frame["won_t"] = entry[:, cat.STAGE_INDEX["Invoice Issued"]]
    frame["paid_t"] = entry[:, cat.STAGE_INDEX["Payment Received"]]
    frame["expected_close"] = _expected_close(rng, created, first_stage)
    stage_events = pd.DataFrame({
        "deal": np.concatenate([rows for rows, _, _ in events]),
        "t": np.concatenate([times for _, times, _ in events]),
        "stage": np.concatenate([np.full(len(rows), s) for rows, _, s in events]),
    }).sort_values(["deal", "t"], kind="stable", ignore_index=True)
    epoch = history_start
    return Timeline(epoch=epoch, deals=frame, stage_events=stage_events)


def _expected_close(rng: np.random.Generator, created: np.ndarray, first_stage: np.ndarray) -> np.ndarray:
    """The day the owner expects the deal to close, guessed at creation from the seed table
    (so it is as wrong as the seed table on histories with other stage days); 20% left blank."""
    guess = expected_days_to_invoice()
    planned = np.array([guess[stage] for stage in cat.STAGES[: cat.STAGE_INDEX["Invoice Issued"]]])
    days = planned[np.minimum(first_stage, len(planned) - 1)] * _log_normal(rng, 0.3, len(created))
    blank = rng.random(len(created)) < 0.2
    return np.where(blank, np.nan, np.floor(created + days))


def _static_attributes(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """What a deal is (names, money, habits of its owner), fixed for its whole life."""
    org = _pick(rng, [w for _, _, w in cat.ORGANIZATIONS], n)
    org_names = np.array([name for name, _, _ in cat.ORGANIZATIONS], dtype=object)[org]
    currency = np.array([cur for _, cur, _ in cat.ORGANIZATIONS], dtype=object)[org]
    currency = np.where((currency == "SAR") & (rng.random(n) < 0.05), "USD", currency)
    rates = np.array([cat.SAMPLE_RATES[c] for c in currency])
    value_sar = np.clip(np.exp(rng.normal(np.log(180_000), 1.0, n)), 8_000, 6_000_000)
    value = np.maximum(np.round(value_sar / rates / 50) * 50, 50.0)

    first = np.array(cat.FIRST_NAMES, dtype=object)[rng.integers(0, len(cat.FIRST_NAMES), n)]
    last = np.array(cat.LAST_NAMES, dtype=object)[rng.integers(0, len(cat.LAST_NAMES), n)]
    contact = np.where(rng.random(n) < 0.1, "", first + " " + last)
    works = np.array(cat.WORKS, dtype=object)[rng.integers(0, len(cat.WORKS), n)]
    places = np.array(cat.PLACES, dtype=object)[rng.integers(0, len(cat.PLACES), n)]
    period = rng.uniform(3.0, 21.0, n)
    return pd.DataFrame({
        "title": works + " - " + places,
        "owner": np.array(cat.OWNERS, dtype=object)[_pick(rng, cat.OWNER_WEIGHTS, n)],
        "organization": org_names,
        "contact": contact,
        "currency": currency,
        "value": value,
        "label": np.array(cat.LABELS, dtype=object)[_pick(rng, cat.LABEL_WEIGHTS, n)],
        "shows_probability": rng.random(n) < 0.3,
        # the invoice-date custom field is filled on 60% of invoiced deals, dated 0-2 days
        # before the stage moved; the payment-date field on half of the paid ones
        "invoice_lag": np.where(rng.random(n) < 0.6, rng.integers(0, 3, n), -1),
        "shows_payment_date": rng.random(n) < 0.5,
        # activities every `period` days from `created + phase`, while the deal is alive
        "touch_period": period,
        "touch_phase": rng.uniform(0.0, 1.0, n) * period,
        "shows_next_activity": rng.random(n) < 0.85,
        "note_pick": rng.integers(0, 6, n),
        "shows_notes": rng.random(n) < 0.75,
        "lost_reason_pick": rng.integers(0, 6, n),
    })
