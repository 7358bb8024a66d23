"""The learned engine's model (DESIGN 5.2): what the deals' history up to the as-of date teaches.

``fit`` reads the stored snapshots with as-of on or before the forecast's as-of
(``core.cashflow.history``) and fits the won-or-lost curves by age, by value group, by the
stage deals are won from and by days in stage (``survival``), each organization's median
payment delay, and how the CRM's own probabilities did against the learned win chance.
``core.cashflow.learned`` applies the model to deals; its docstring describes the method.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.behaviour import organization_keys
from core.cashflow.history import day_number, deal_facts, read_arrow, stage_flags, stage_spells
from core.cashflow.survival import OutcomeCurve, fit_outcomes
from core.store import Store

#: Weight, in deals, of the overall win rate when a win chance is shrunk toward it.
PRIOR_WEIGHT = 20.0
#: Deals are compared with deals of similar value: this many groups, split at the history's quantiles.
VALUE_GROUPS = 3
#: The CRM's own probabilities give way to the learned win chance when, on at least
#: ``MIN_CRM_CHECK`` deals the history saw open with one and then closed, their Brier score
#: was worse than the learned chance's by more than ``CRM_MARGIN``.
MIN_CRM_CHECK, CRM_MARGIN = 20, 0.02


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


def chance_by_age(model: LearnedModel, age: np.ndarray, value: np.ndarray) -> np.ndarray:
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
    learned = chance_by_age(model, age[known], facts["value"].to_numpy()[rows][known])
    return CrmCheck(
        deals=int(known.sum()),
        crm_brier=float(np.mean((crm - outcome) ** 2)),
        learned_brier=float(np.mean((learned - outcome) ** 2)),
    )

