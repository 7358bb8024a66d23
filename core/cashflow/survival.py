"""Won-or-lost survival curves: win chance and time left, given how long a deal has been open.

A deal open at age ``a`` (days since it was created, or since it entered its stage) ends
either won (its invoice event) or lost. ``fit_outcomes`` estimates both from records that
are observed from an entry age on (0 for a deal seen since creation; later for a deal first
seen in a later snapshot: delayed entry) until they were won, lost or last seen open
(censored). It is the Aalen-Johansen estimator: at each day, the deals still at risk are
those entered and not yet ended; the share of them won (or lost) that day, times the share
of all deals still open, is that day's cumulative incidence of a win (or a loss).

For a deal open at age ``a``:

- the win chance is the share of the comparable deals still open at ``a`` that were later
  won: the wins after ``a`` over the wins and losses after ``a``. It is shrunk toward the
  overall rate ``prior`` with the weight of ``prior_weight`` deals, so a few late closures
  do not decide it;
- the days left until the invoice at quantile ``q`` come from the wins after ``a`` alone: a
  deal 40 days into a 30-day life is not due in -10 days. Past the last age that still has
  ``min_wins`` wins after it, the deal is treated as that old (and the caller says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OutcomeCurve:
    """Cumulative incidences of a win and a loss at each event age."""

    times: np.ndarray
    wins: np.ndarray  # incidence of a win at each time
    losses: np.ndarray
    win_count: np.ndarray  # raw numbers of wins and losses at each time
    loss_count: np.ndarray

    @property
    def events(self) -> int:
        """Wins observed (deals that reached their invoice event)."""
        return int(self.win_count.sum())

    def _after(self, age: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.times, age, side="right")

    def closures_after(self, age: np.ndarray) -> np.ndarray:
        """Wins plus losses observed after ``age``."""
        tail = np.append(np.cumsum((self.win_count + self.loss_count)[::-1])[::-1], 0)
        return tail[self._after(age)]

    def win_chance(self, age: np.ndarray, prior: float | np.ndarray, prior_weight: float) -> np.ndarray:
        """Share later won of the deals open at ``age``, shrunk toward ``prior`` (one or per deal)."""
        start = self._after(age)
        win_tail = np.append(np.cumsum(self.wins[::-1])[::-1], 0.0)[start]
        loss_tail = np.append(np.cumsum(self.losses[::-1])[::-1], 0.0)[start]
        total = win_tail + loss_tail
        own = np.divide(
            win_tail, total, out=np.broadcast_to(prior, age.shape).astype(np.float64), where=total > 0
        )
        n = self.closures_after(age)
        return (n * own + prior_weight * prior) / (n + prior_weight)

    def overall_win_chance(self) -> float:
        total = self.wins.sum() + self.losses.sum()
        return float(self.wins.sum() / total) if total > 0 else float("nan")

    def oldest_age(self, min_wins: int) -> float:
        """The largest age with at least ``min_wins`` wins after it (-1 when there are fewer in all)."""
        if self.events < min_wins:
            return -1.0
        after = np.cumsum(self.win_count[::-1])[::-1]
        return float(self.times[np.flatnonzero(after >= min_wins)[-1]] - 1)

    def days_left(self, age: np.ndarray, q: float) -> np.ndarray:
        """Days from ``age`` to the invoice at quantile ``q`` of the wins after ``age`` (NaN: none after)."""
        if not len(self.times):
            return np.full(len(age), np.nan)
        cumulative = np.cumsum(self.wins)
        start = self._after(age)
        before = np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
        remaining = cumulative[-1] - before
        target = before + q * remaining
        hit = np.clip(
            np.searchsorted(cumulative, target - 1e-9 * remaining, side="left"), start, len(self.times) - 1
        )
        return np.where(remaining > 1e-12, np.maximum(self.times[hit] - age, 1.0), np.nan)


def fit_outcomes(entry: np.ndarray, end: np.ndarray, won: np.ndarray, lost: np.ndarray) -> OutcomeCurve:
    """Aalen-Johansen curves from records at risk on days ``entry`` to ``end`` (both ages in whole days).

    ``won``/``lost`` say how a record ended at ``end``; neither means it was still open then
    (censored). A record counts only where ``entry <= end``. Counted per day (``bincount``), so
    a fit costs one pass over the records and none of them is sorted.
    """
    keep = entry <= end
    entry, end, won, lost = entry[keep], end[keep], won[keep], lost[keep]
    if not (won | lost).any():
        empty = np.zeros(0)
        return OutcomeCurve(empty, empty, empty, empty.astype(np.int64), empty.astype(np.int64))
    first = min(entry.min(), end.min())
    start, stop = (entry - first).astype(np.int64), (end - first).astype(np.int64)
    size = int(stop.max()) + 1
    entered = np.cumsum(np.bincount(start, minlength=size))  # entry <= day
    left = np.cumsum(np.bincount(stop, minlength=size)) - np.bincount(stop, minlength=size)  # end < day
    wins = np.bincount(stop[won], minlength=size)
    losses = np.bincount(stop[lost & ~won], minlength=size)
    days = np.flatnonzero(wins + losses)
    win_count, loss_count = wins[days], losses[days]
    at_risk = np.maximum((entered - left)[days], 1)
    hazard = (win_count + loss_count) / at_risk
    open_before = np.concatenate(([1.0], np.cumprod(1.0 - hazard)[:-1]))
    return OutcomeCurve(
        times=(days + first).astype(np.float64),
        wins=open_before * win_count / at_risk,
        losses=open_before * loss_count / at_risk,
        win_count=win_count,
        loss_count=loss_count,
    )
