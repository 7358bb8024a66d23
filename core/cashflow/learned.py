"""The learned engine (DESIGN 5.2): win chance and time to invoice from the deals' own history.

History is what the stored snapshots with as-of on or before the forecast's as-of say
(``core.cashflow.history``; never anything later). Most users have one export, and it
already holds the history: every closed deal with its created and won or lost date, every
open deal with its age. From it:

- **by age** (days since created): won-or-lost curves over all deals (``survival``): open
  deals are censored at their age. They give each open deal its win chance (the share of
  deals still open at its age that were later won, shrunk toward the overall rate) and the
  days left to its invoice event (P10, median, P90 of the wins after its age);
- **by the stage deals are won from**, from one export: a won deal shows the stage it was won
  from and when it entered it (its last stage change). A deal in such a stage is timed by the
  deals that were in it at the same age (each counted from the age it entered it: delayed
  entry); a deal not in one yet by the deals that were open at about its age and had not
  reached one (a landmark: they are followed to their end wherever they went). Both need
  ``min_samples`` wins; the win chance stays the one by age and value (one export does not
  show the deals that passed through a stage, so a stage's own share won would be biased).
  A stage the stage table knows but no stage curve can time keeps the table's date (the
  band, widened to hold it, and the win chance stay learned): in a pipeline whose stages decide the time
  left, the table knows more than the deal's age;
- **by stage**, where several snapshots show deals in a stage and what became of them: the
  same curves by days in the stage, with delayed entry (a deal counts from the first
  snapshot that shows it in the stage). A stage with at least ``min_samples`` wins decides
  the timing, and its win chance is shrunk toward the deal's by-age chance;
- **payment**: per organization, the median days from invoice to payment (where the
  receivables have learned the customer, its invoices decide: ``with_receivables``).

The learned win chance weights a deal's value when the deal has no probability of its own
(the CRM's, when the export has one). Deals the history cannot speak for keep the rules
estimate, and the reasoning says which source each deal used. The P10/P90 band is the
curves' own 10 % and 90 % quantiles: on generated exports and the sample's snapshots the
backtests find the invoice inside it about 80 % of the time (``bench/accuracy.py``).

This module is the engine: it applies the model to deals (timing, win chance, payment delay
and the reasoning that names each source). The model is fitted in ``learned_model``; the
per-deal answers it shares with the naive engine live in ``estimates``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.behaviour import organization_keys
from core.cashflow.columns import compose_reasoning, day_array, text_part
from core.cashflow.engines import EngineContext, register_engine
from core.cashflow.estimates import Estimates, apply_win_chance, use_estimates, won_as_invoiced
from core.cashflow.learned_model import PRIOR_WEIGHT, LearnedModel, chance_by_age, fit
from core.cashflow.rules import apply_overrides, estimate_frame, with_receivables
from core.cashflow.survival import fit_outcomes
from core.deals import normalise_stage

#: Fewest paid invoices of one organization before its own payment delay is used.
MIN_PAYMENT_SAMPLES = 3


class LearnedEngine:
    """Predicts from the store's history up to the as-of date; rules where history is thin."""

    def fit_for(self, context: EngineContext) -> LearnedModel:
        if context.store is None:
            return LearnedModel(as_of=context.as_of)
        return fit(context.store, context.as_of, context.assumptions)

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        return predict_learned(deals, context, self.fit_for(context))


def learned_estimates(
    deals: pd.DataFrame,
    est: pd.DataFrame,
    keys: np.ndarray,
    model: LearnedModel,
    minimum: int,
    table_stages: list[str],
) -> Estimates:
    """Stage curves where they have ``minimum`` wins, else the curves by age; NaN elsewhere.

    A deal in a stage of the stage table (``table_stages``) that no stage curve can time keeps
    the table's date: the table knows that stage, the curves by age do not (one export shows
    the stage a deal ended in, not how long it spent in the ones before). Its win chance and
    band stay learned, the band widened to hold the table's date."""
    out = Estimates.empty(len(est))
    guess = (est["kind"] == "forecast").to_numpy() & ~est["invoice_is_fact"].to_numpy(bool)
    today = np.datetime64(model.as_of, "D")
    age = (today - day_array(deals["created_at"])).astype(np.float64)
    age = np.where(age >= 0, age, np.nan)
    in_stage = est["days_in_stage"].to_numpy(dtype=np.float64)
    if model.ages is not None and model.ages.events >= minimum:
        rows = guess & ~np.isnan(age)
        value = est["value_base"].to_numpy(dtype=np.float64, na_value=np.nan)
        out.chance[rows] = chance_by_age(model, age[rows], value[rows])
        out.rows[rows] = True
        out.notes.append(
            f"learned by age from {model.closed} closed deals ({model.ages.events} won): "
            "win chance of deals of similar value still open at this age, and their days to invoice"
        )
        out.notes.append(
            f"win chance learned by age from {model.closed} closed deals ({model.ages.events} won); "
            "older than the deals the history saw won, so timed by the stage table"
        )
        # Past the last age with ``minimum`` wins after it, the history saw too few wins to time a
        # deal (the few it saw came just before the history ends, so they would time it too soon).
        timed = rows & (age <= model.ages.oldest_age(minimum))
        out.time(model.ages, timed, age)
        out.note[rows] = np.where(timed[rows], 0, 1)
        # Narrower comparisons where they saw enough wins after the deal's age: deals of similar
        # value, then deals by the stage they were in (one export shows each deal's last stage).
        if model.value_edges is not None:
            group = np.searchsorted(model.value_edges, value, side="right")
            for g, curve in enumerate(model.value_curves):
                own = rows & (group == g) & ~np.isnan(value) & (age <= curve.oldest_age(minimum))
                out.time(curve, own, age)
        _time_by_winning_stage(out, model, keys, age, rows, minimum)
        by_table = (
            rows
            & ~np.isnan(out.mid)
            & np.isin(keys, table_stages)
            & ~np.isin(keys, model.winning_stages(minimum))
        )
        if by_table.any():
            table_days = (day_array(est["predicted_invoice_date"]) - today).astype(np.float64)[by_table]
            out.mid[by_table] = table_days
            out.low[by_table] = np.minimum(out.low[by_table], table_days)
            out.high[by_table] = np.maximum(out.high[by_table], table_days)
            out.notes.append(
                f"date from the stage table, as the history has not yet shown {minimum} deals won from this "
                f"stage; win chance and band learned by age from {model.closed} closed deals "
                f"({model.ages.events} won)"
            )
            out.note[by_table] = len(out.notes) - 1
    for stage in sorted(set(keys[guess].tolist())):
        curve = model.stages.get(stage)
        if curve is None or curve.events < minimum:
            continue
        rows = guess & (keys == stage)
        days = in_stage[rows]
        mid = curve.days_left(days, 0.5)
        ok = ~np.isnan(mid)
        index = np.flatnonzero(rows)[ok]
        out.low[index] = curve.days_left(days[ok], 0.1)
        out.mid[index] = mid[ok]
        out.high[index] = curve.days_left(days[ok], 0.9)
        # Shrunk toward the deal's chance by age, else the stage's overall rate.
        base = np.where(np.isnan(out.chance[index]), curve.overall_win_chance(), out.chance[index])
        out.chance[index] = curve.win_chance(days[ok], base, PRIOR_WEIGHT)
        out.rows[index] = True
        out.notes.append(
            f"stage '{stage}': learned from {curve.events} deals that reached an invoice, "
            "remaining time given the days already in stage"
        )
        out.note[index] = len(out.notes) - 1
    return out


#: Deals not yet in a stage deals are won from are compared with the deals that were open at
#: about their age (landmarks at these quantiles of their ages) and not yet in such a stage.
LANDMARK_QUANTILES = np.linspace(0.0, 0.975, 40)


def _time_by_winning_stage(
    out: Estimates, model: LearnedModel, keys: np.ndarray, age: np.ndarray, rows: np.ndarray, minimum: int
) -> None:
    """Time deals by the stage they are in, where the history saw ``minimum`` deals won from a stage.

    A deal in such a stage (*winning*: one export shows a deal's last stage, so the stages won
    deals were last in) is compared, at its age, with the deals that were in that stage then
    (each counted from the age it entered it). A deal before any winning stage is compared with
    the deals that were open and not yet in one at about its age, followed to their end wherever
    they went (a landmark): they still have a stage or more to go, so they take longer.
    """
    winning = model.winning_stages(minimum)
    for stage in winning:
        curve = model.stage_ages[stage]
        own = rows & (keys == stage) & (age <= curve.oldest_age(minimum))
        out.time(curve, own, age)
        out.notes.append(
            f"stage '{stage}', one deals are won from: learned from the {curve.events} deals won from it, "
            "days to invoice given the deal's age (each counted from the age it entered the stage)"
        )
        out.note[own] = len(out.notes) - 1
    before = rows & ~np.isin(keys, winning)
    if not winning or not before.any():
        return
    lives = model.lives
    end, won, lost = (lives[name].to_numpy() for name in ("end", "won", "lost"))
    reached = np.where(lives["stage"].isin(winning).to_numpy(), lives["stage_age"].to_numpy(), np.inf)
    landmarks = np.unique(np.floor(np.quantile(age[before], LANDMARK_QUANTILES)))
    which = np.searchsorted(landmarks, age, side="right") - 1
    for k, landmark in enumerate(landmarks):
        at = (reached > landmark) & (end >= landmark)
        curve = fit_outcomes(np.full(at.sum(), landmark), end[at], won[at], lost[at])
        if curve.events < minimum:
            continue
        own = before & (which == k) & (age <= curve.oldest_age(minimum))
        out.time(curve, own, age)
        out.notes.append(
            f"learned from the {int(at.sum())} deals open at {int(landmark)} days and not yet in a stage "
            f"deals are won from ({', '.join(winning)}), {curve.events} of them won: their days to invoice"
        )
        out.note[own] = len(out.notes) - 1


def predict_learned(deals: pd.DataFrame, context: EngineContext, model: LearnedModel) -> pd.DataFrame:
    """Rules estimates, then learned invoice dates, bands and win chances where history allows."""
    a, minimum = context.assumptions, context.options.min_samples
    est = won_as_invoiced(estimate_frame(deals, context.as_of, a), deals, a)
    keys = stage_key_array(deals["stage"], a)
    found = learned_estimates(deals, est, keys, model, minimum, [stage.name for stage in a.stages])
    fallback = (
        "no created date to age the deal by, stage table used"
        if model.has_history(minimum)
        else f"too little history ({model.ages.events if model.ages else 0} won deals, {minimum} needed), "
        "stage table used"
    )
    est = use_estimates(est, found, context, method="learned", fallback=fallback)
    check = model.crm_check
    replaced = apply_win_chance(est, deals, found, over_own=check is not None and check.miscalibrated)
    if replaced.any():
        est["invoice_reason"] = compose_reasoning(
            [pd.Categorical(est["invoice_reason"]), text_part(np.where(replaced, 0, -1), [check.sentence()])],
            np.zeros(len(est), np.int64),
            {},
            sentence=False,
        )
    _learned_terms(est, deals, model)
    est = with_receivables(est, deals, context.receivables)
    return apply_overrides(est, context.as_of, a)



def stage_key_array(stages: pd.Series, assumptions: Assumptions) -> np.ndarray:
    """Per row: the stage-table name of the stage, else its normalised name ("" for none)."""
    codes, uniques = pd.factorize(stages)
    keys = []
    for raw in uniques:
        row = assumptions.match_stage(raw)
        keys.append(assumptions.stages[row].name if row is not None else normalise_stage(raw))
    return np.asarray([*keys, ""], dtype=object)[codes]



def _learned_terms(est: pd.DataFrame, deals: pd.DataFrame, model: LearnedModel) -> None:
    """An organization's own median payment delay, where it has enough paid invoices."""
    if not model.payment_days:
        return
    codes, orgs = pd.factorize(organization_keys(deals["organization"]))
    known = [model.payment_days.get(org, (np.nan, 0)) for org in orgs]
    days = np.asarray([d if n >= MIN_PAYMENT_SAMPLES else np.nan for d, n in known] + [np.nan])[codes]
    use = ~np.isnan(days)
    if not use.any():
        return
    texts = [
        f"payment {round(d)} days after invoice (median of {n} paid invoices of this organization)"
        if n >= MIN_PAYMENT_SAMPLES
        else ""
        for d, n in known
    ]
    learned_terms = text_part(np.where(use, codes, -1), texts)
    rules_terms = pd.Categorical(est["terms_reason"]).copy()
    rules_terms[use] = np.nan
    est["terms_reason"] = compose_reasoning(
        [learned_terms, rules_terms], np.zeros(len(est), np.int64), {}, sentence=False
    )
    est["payment_terms_days"] = np.where(
        use, np.round(np.nan_to_num(days)), est["payment_terms_days"]
    ).astype(np.int64)


register_engine("learned", LearnedEngine())
