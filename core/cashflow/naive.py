"""The naive baseline every backtest shows: overall win rate x median time left given age.

From the same history the learned engine reads (snapshots up to the as-of date): the share
of closed deals that were won, and the days from created to the invoice event of the won
deals. A deal open at age ``a`` is won with that overall share and invoiced after the median
(P10, P90) of the won deals' durations longer than ``a``, minus ``a``; no censoring, no stage.
An engine worth using beats it (``backtest``); where the history has fewer than
``min_samples`` won deals the rules estimate stays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.cashflow.columns import day_array
from core.cashflow.engines import EngineContext, RulesEngine, register_engine
from core.cashflow.estimates import Estimates, apply_win_chance, use_estimates, won_as_invoiced
from core.cashflow.history import deal_facts
from core.cashflow.rules import apply_overrides, estimate_frame, with_receivables


class NaiveEngine:
    """Overall win rate and the median remaining duration of won deals older than the deal."""

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        if context.store is None:
            return RulesEngine().predict(deals, context)
        a = context.assumptions
        facts = deal_facts(context.store, context.as_of, a)
        won = ~np.isnan(facts["invoice_event"].to_numpy())
        lost = ~np.isnan(facts["lost"].to_numpy()) & ~won
        durations = np.sort((facts["invoice_event"] - facts["created"]).to_numpy()[won])
        durations = durations[~np.isnan(durations) & (durations >= 0)]
        est = won_as_invoiced(estimate_frame(deals, context.as_of, a), deals, a)
        found = Estimates.empty(len(est))
        if len(durations) >= context.options.min_samples:
            rate = float(won.sum() / (won.sum() + lost.sum()))
            guess = (est["kind"] == "forecast").to_numpy() & ~est["invoice_is_fact"].to_numpy(bool)
            age = (np.datetime64(context.as_of, "D") - day_array(deals["created_at"])).astype(np.float64)
            rows = guess & (age >= 0)
            start = np.minimum(np.searchsorted(durations, age[rows], side="right"), len(durations) - 1)
            tail = len(durations) - 1 - start
            for target, q in zip((found.low, found.mid, found.high), (0.1, 0.5, 0.9), strict=True):
                target[rows] = np.maximum(
                    durations[start + np.floor(q * tail).astype(np.int64)] - age[rows], 1.0
                )
            found.chance[rows] = rate
            found.rows[rows] = True
            found.note[rows] = 0
            found.notes.append(
                f"naive baseline: overall win rate {rate:.0%} of {int(won.sum() + lost.sum())} closed deals, "
                f"median days to invoice of the {len(durations)} won deals older than this one"
            )
        est = use_estimates(
            est,
            found,
            context,
            method="naive",
            fallback=f"naive baseline: fewer than {context.options.min_samples} won deals, stage table used",
        )
        apply_win_chance(est, deals, found)
        est = with_receivables(est, deals, context.receivables)
        return apply_overrides(est, context.as_of, a)


register_engine("naive", NaiveEngine())
