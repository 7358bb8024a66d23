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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.behaviour import organization_keys
from core.cashflow.columns import VALUE_FLAGS, Flag, compose_reasoning, day_array, text_part
from core.cashflow.engines import EngineContext, register_engine
from core.cashflow.history import day_number, deal_facts, read_arrow, stage_flags, stage_spells
from core.cashflow.receivables import with_receivables
from core.cashflow.rules import apply_overrides, estimate_frame
from core.cashflow.survival import OutcomeCurve, fit_outcomes
from core.deals import normalise_stage
from core.store import Store

#: Fewest paid invoices of one organization before its own payment delay is used.
MIN_PAYMENT_SAMPLES = 3
#: Weight, in deals, of the overall win rate when a win chance is shrunk toward it.
PRIOR_WEIGHT = 20.0
#: Deals are compared with deals of similar value: this many groups, split at the history's quantiles.
VALUE_GROUPS = 3
#: The CRM's own probabilities give way to the learned win chance when, on at least
#: ``MIN_CRM_CHECK`` deals the history saw open with one and then closed, their Brier score
#: was worse than the learned chance's by more than ``CRM_MARGIN``.
MIN_CRM_CHECK, CRM_MARGIN = 20, 0.02
_QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class CrmCheck:
    """The CRM's own probabilities against the learned win chance, on deals that closed since."""

    deals: int
    crm_brier: float
    learned_brier: float

    @property
    def miscalibrated(self) -> bool:
        """The CRM's probabilities did clearly worse than the learned chance, on enough deals."""
        return self.deals >= MIN_CRM_CHECK and self.crm_brier > self.learned_brier + CRM_MARGIN

    def sentence(self) -> str:
        return (
            f"the CRM's own probabilities were miscalibrated on the {self.deals} deals the history saw "
            f"close (Brier {self.crm_brier:.2f} against {self.learned_brier:.2f} learned), so the learned "
            "win chance is used"
        )


@dataclass
class LearnedModel:
    """What the history up to ``as_of`` taught: curves by age and by stage, payment delays."""

    as_of: dt.date
    ages: OutcomeCurve | None = None
    stages: dict[str, OutcomeCurve] = field(default_factory=dict)
    stage_ages: dict[str, OutcomeCurve] = field(default_factory=dict)
    #: Every deal's life on the age clock: end (age won, lost or last seen open), won, lost, the stage
    #: it was last seen in and the age it entered it; what the curves before a stage are fitted from.
    lives: pd.DataFrame | None = None
    payment_days: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: Deal value bounds of the ``VALUE_GROUPS`` groups and each group's curves by age.
    value_edges: np.ndarray | None = None
    value_curves: list[OutcomeCurve] = field(default_factory=list)
    crm_check: CrmCheck | None = None
    closed: int = 0
    snapshots: int = 0

    @property
    def win_rate(self) -> float:
        """Overall share of closed deals that were won (NaN without closed deals)."""
        return self.ages.overall_win_chance() if self.ages is not None else float("nan")

    def winning_stages(self, min_samples: int) -> list[str]:
        """Stages the history saw at least ``min_samples`` deals won from (their last stage)."""
        return sorted(key for key, curve in self.stage_ages.items() if curve.events >= min_samples)

    def learned_stages(self, min_samples: int) -> list[str]:
        return sorted(key for key, curve in self.stages.items() if curve.events >= min_samples)

    def has_history(self, min_samples: int) -> bool:
        return (self.ages is not None and self.ages.events >= min_samples) or bool(
            self.learned_stages(min_samples)
        )


def fit(store: Store, as_of: dt.date, assumptions: Assumptions) -> LearnedModel:
    """Learn from every deals snapshot with as-of on or before ``as_of``."""
    flags = stage_flags(store, as_of, assumptions)
    facts = deal_facts(store, as_of, assumptions, flags=flags)
    snapshots = (
        read_arrow(
            store,
            "SELECT count(*) FROM snapshots WHERE kind = 'deals' AND as_of <= $cutoff",
            {"cutoff": as_of},
        )
        .column(0)[0]
        .as_py()
    )
    model = LearnedModel(as_of=as_of, snapshots=int(snapshots))
    if facts.empty:
        return model
    today = day_number(as_of)
    won = ~np.isnan(facts["invoice_event"].to_numpy())
    lost = ~np.isnan(facts["lost"].to_numpy()) & ~won
    end = np.where(won, facts["invoice_event"], np.where(lost, facts["lost"], today)) - facts["created"]
    known = ~np.isnan(end)
    model.ages = fit_outcomes(np.zeros(known.sum()), end[known], won[known], lost[known])
    model.closed = int((won | lost)[known].sum())
    value = facts["value"].to_numpy()
    if (~np.isnan(value[known])).sum() >= VALUE_GROUPS:
        model.value_edges = np.nanquantile(value[known], np.arange(1, VALUE_GROUPS) / VALUE_GROUPS)
        group = np.searchsorted(model.value_edges, value, side="right")
        for g in range(VALUE_GROUPS):
            rows = known & (group == g) & ~np.isnan(value)
            model.value_curves.append(fit_outcomes(np.zeros(rows.sum()), end[rows], won[rows], lost[rows]))

    model.crm_check = _check_crm(model, facts, won, lost)
    # By stage on the age clock: a deal counts from the age it entered the stage it was last seen in.
    stage_age = facts["stage_entry"].to_numpy() - facts["created"].to_numpy()
    for stage, rows in pd.Series(np.arange(len(facts))).groupby(facts["stage"], observed=True):
        index = rows.to_numpy()
        index = index[known[index] & (stage_age[index] >= 0)]
        model.stage_ages[str(stage)] = fit_outcomes(stage_age[index], end[index], won[index], lost[index])
    model.lives = pd.DataFrame(
        {"end": end, "won": won, "lost": lost, "stage": facts["stage"], "stage_age": stage_age}
    )[known]
    if model.snapshots >= 2:  # in one snapshot every spell is first seen on as-of: no outcome yet
        _fit_stages(model, stage_spells(store, as_of, assumptions, flags=flags), today)

    delays = facts["payment_event"] - facts["invoice_event"]
    paid = pd.DataFrame({"org": organization_keys(facts["organization"]), "days": delays}).dropna()
    paid = paid[(paid["days"] >= 0) & (paid["org"] != "")]
    for org, group in paid.groupby("org"):
        model.payment_days[str(org)] = (float(group["days"].median()), len(group))
    return model


def _fit_stages(model: LearnedModel, spells: pd.DataFrame, today: float) -> None:
    """Curves by days in stage, one per stage, from the stage spells the snapshots showed."""
    spell_won = ~np.isnan(spells["invoice_event"].to_numpy())
    spell_lost = ~np.isnan(spells["lost"].to_numpy()) & ~spell_won
    spell_end = np.where(spell_won, spells["invoice_event"], np.where(spell_lost, spells["lost"], today))
    # A deal seen open in a stage at the end of a day can close from the next day on.
    entry = spells["first_seen"].to_numpy() - spells["entry"].to_numpy() + 1
    duration = spell_end - spells["entry"].to_numpy()
    for stage, rows in pd.Series(np.arange(len(spells))).groupby(spells["stage"], observed=True):
        index = rows.to_numpy()
        model.stages[str(stage)] = fit_outcomes(
            entry[index], duration[index], spell_won[index], spell_lost[index]
        )


def _chance_by_age(model: LearnedModel, age: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Win chance of deals open at ``age`` with ``value``: by age, then by value group where known."""
    chance = model.ages.win_chance(age, model.win_rate, PRIOR_WEIGHT)
    if model.value_edges is not None:
        group = np.searchsorted(model.value_edges, value, side="right")
        for g, curve in enumerate(model.value_curves):
            chosen = (group == g) & ~np.isnan(value)
            chance[chosen] = curve.win_chance(age[chosen], chance[chosen], PRIOR_WEIGHT)
    return chance


def _check_crm(
    model: LearnedModel, facts: pd.DataFrame, won: np.ndarray, lost: np.ndarray
) -> CrmCheck | None:
    """How the CRM's own probabilities did on the deals the history saw open with one and then closed,
    against the learned win chance at the age they had then (``None`` without such deals)."""
    seen = facts["crm_seen"].to_numpy()
    ended = np.where(won, facts["invoice_event"], facts["lost"])
    rows = (won | lost) & ~np.isnan(facts["crm_probability"].to_numpy()) & (ended > seen)
    if not rows.any() or model.ages is None:
        return None
    age = (seen - facts["created"].to_numpy())[rows]
    known = ~np.isnan(age)
    outcome = won[rows][known].astype(np.float64)
    crm = facts["crm_probability"].to_numpy()[rows][known]
    learned = _chance_by_age(model, age[known], facts["value"].to_numpy()[rows][known])
    return CrmCheck(
        deals=int(known.sum()),
        crm_brier=float(np.mean((crm - outcome) ** 2)),
        learned_brier=float(np.mean((learned - outcome) ** 2)),
    )


class LearnedEngine:
    """Predicts from the store's history up to the as-of date; rules where history is thin."""

    def fit_for(self, context: EngineContext) -> LearnedModel:
        if context.store is None:
            return LearnedModel(as_of=context.as_of)
        return fit(context.store, context.as_of, context.assumptions)

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        return predict_learned(deals, context, self.fit_for(context))


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
        out.chance[rows] = _chance_by_age(model, age[rows], value[rows])
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


def stage_key_array(stages: pd.Series, assumptions: Assumptions) -> np.ndarray:
    """Per row: the stage-table name of the stage, else its normalised name ("" for none)."""
    codes, uniques = pd.factorize(stages)
    keys = []
    for raw in uniques:
        row = assumptions.match_stage(raw)
        keys.append(assumptions.stages[row].name if row is not None else normalise_stage(raw))
    return np.asarray([*keys, ""], dtype=object)[codes]


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
