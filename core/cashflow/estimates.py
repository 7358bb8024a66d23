"""What the history engines (``learned``, ``naive``) share: their per-deal answers and how they
replace the rules estimates.

``Estimates`` holds a source's days to invoice (P10/P50/P90), win chance and reasoning per deal;
``use_estimates`` puts them into the rules estimates where the source has an answer,
``apply_win_chance`` weights deals' values by the learned win chance, and ``won_as_invoiced``
invoices won deals without an invoice date on their won date, as the history counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import compose_reasoning, day_array, text_part
from core.cashflow.engines import EngineContext
from core.cashflow.fields import VALUE_FLAGS, Flag
from core.cashflow.survival import OutcomeCurve

_QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Estimates:
    """Per deal: where a source has an answer (``rows``), its days to invoice at P10/P50/P90,
    win chance, and a text code into ``notes``."""

    rows: np.ndarray
    low: np.ndarray
    mid: np.ndarray
    high: np.ndarray
    chance: np.ndarray
    note: np.ndarray
    notes: list[str]

    @classmethod
    def empty(cls, n: int) -> Estimates:
        nan = np.full(n, np.nan)
        return cls(np.zeros(n, bool), nan, nan.copy(), nan.copy(), nan.copy(), np.full(n, -1), [])

    def time(self, curve: OutcomeCurve, rows: np.ndarray, clock: np.ndarray) -> None:
        """Days to invoice of the ``rows`` at P10/P50/P90 from ``curve``, at their age on ``clock``."""
        for target, q in zip((self.low, self.mid, self.high), _QUANTILES, strict=True):
            target[rows] = curve.days_left(clock[rows], q)


WON_AS_INVOICE = "won on its won date, which stands for the invoice (no invoice date in the export)"


def won_as_invoiced(est: pd.DataFrame, deals: pd.DataFrame, a: Assumptions) -> pd.DataFrame:
    """Won deals without an invoice fact are invoiced on their won date, as the history counts them.

    The history takes the won date for the invoice event when a deal has no invoice date, so
    a deal won long ago is not forecast to be invoiced again after the as-of date."""
    won_at = day_array(deals["won_at"])
    status = deals["status"].str.lower().to_numpy(dtype=object, na_value="open")
    rows = (
        (est["kind"] == "forecast").to_numpy()
        & ~est["invoice_is_fact"].to_numpy(bool)
        & (status == "won")
        & ~np.isnat(won_at)
    )
    if not rows.any():
        return est
    out = est.copy()
    for name in ("predicted_invoice_date", "invoice_p10", "invoice_p90"):
        values = day_array(out[name])
        values[rows] = won_at[rows]
        out[name] = values
    out["invoice_is_fact"] = out["invoice_is_fact"].to_numpy(bool) | rows
    out["confidence"] = np.where(rows, a.invoiced_confidence, out["confidence"])
    reasons = pd.Categorical(out["invoice_reason"])
    if WON_AS_INVOICE not in reasons.categories:
        reasons = reasons.add_categories([WON_AS_INVOICE])
    reasons[rows] = WON_AS_INVOICE
    out["invoice_reason"] = reasons
    return out



def use_estimates(
    est: pd.DataFrame, found: Estimates, context: EngineContext, *, method: str, fallback: str
) -> pd.DataFrame:
    """Put ``found``'s dates, band and confidence into the rules estimates where it has them."""
    a = context.assumptions
    today = np.datetime64(context.as_of, "D")
    guess = (est["kind"] == "forecast").to_numpy() & ~est["invoice_is_fact"].to_numpy(bool)
    rows = found.rows & ~np.isnan(found.mid)  # (P10 and P90 are known where the median is)
    invoice, p10, p90 = (
        day_array(est[name]) for name in ("predicted_invoice_date", "invoice_p10", "invoice_p90")
    )
    invoice[rows] = today + np.ceil(found.mid[rows]).astype("timedelta64[D]")
    p10[rows] = today + np.floor(found.low[rows]).astype("timedelta64[D]")
    p90[rows] = today + np.ceil(found.high[rows]).astype("timedelta64[D]")
    bits = est["flag_bits"].to_numpy(dtype=np.int64)
    late = (bits & int(Flag.LATE_STAGE)) != 0
    issue = Flag.CREATED_IN_FUTURE | Flag.STAGE_CHANGE_BEFORE_CREATED | Flag.STAGE_CHANGE_IN_FUTURE
    penalty = np.where((bits & int(issue)) != 0, a.data_issue_penalty, 0.0)
    confidence = est["confidence"].to_numpy(dtype=np.float64)
    confidence = np.where(
        rows, np.where(late, a.late_stage_confidence, a.base_confidence) - penalty, confidence
    )
    notes = [*found.notes, fallback]
    codes = np.where(guess & (found.note >= 0), found.note, np.where(guess, len(notes) - 1, -1))
    rules_reason = pd.Categorical(est["invoice_reason"]).copy()
    rules_reason[rows] = np.nan
    out = est.copy()
    out["invoice_reason"] = compose_reasoning(
        [text_part(codes, notes), rules_reason], np.zeros(len(est), np.int64), {}, sentence=False
    )
    out["predicted_invoice_date"], out["invoice_p10"], out["invoice_p90"] = invoice, p10, p90
    out["confidence"] = confidence
    out.loc[rows, "method"] = method
    return out


def apply_win_chance(
    est: pd.DataFrame, deals: pd.DataFrame, found: Estimates, *, over_own: bool = False
) -> np.ndarray:
    """The learned win chance for open deals without a probability of their own (``over_own``:
    for those with one too); returns where a deal's own probability was replaced."""
    own = deals["probability"].to_numpy(dtype=np.float64, na_value=np.nan)
    status = deals["status"].str.lower().to_numpy(dtype=object, na_value="open")
    use = found.rows & (np.isnan(own) | over_own) & (status != "won") & ~np.isnan(found.chance)
    if not use.any():
        return use
    probability = np.where(use, np.round(found.chance, 4), est["probability"].to_numpy(dtype=np.float64))
    bits = est["flag_bits"].to_numpy(dtype=np.int64)
    value = np.nan_to_num(est["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    est["probability"] = probability
    est["weighted_value"] = np.where((bits & int(VALUE_FLAGS)) == 0, value * probability, 0.0)
    return use & ~np.isnan(own)
