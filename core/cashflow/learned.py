"""The learned engine (DESIGN 5.2): cycle times, win rates and payment delays from history.

History is every deal row of every snapshot with as-of on or before the forecast's as-of
(never later: backtests replay the past). From it:

- a deal's *invoice event*: its invoice date, else the day it entered an invoiced stage,
  else its won date (``invoice_events``, shared with the backtest);
- per stage, the time from entering the stage to the invoice event, as a Kaplan-Meier
  curve with delayed entry (a deal is seen only from the first snapshot that shows it in
  the stage) and censoring (deals not invoiced yet, or lost). A deal ``a`` days into its
  stage gets the quantiles of the remaining time *given* it has lasted ``a`` days, so a
  deal 40 days into a 30-day stage is not due in -10 days;
- per stage, the share of deals with a known outcome that were won;
- per organization, the median days from invoice to payment (organizations matched like
  invoice customers, ``behaviour.organization_key``; where the receivables have learned
  the customer, its invoices decide instead: ``receivables.with_receivables``).

Stages with fewer than ``min_samples`` observed invoice events keep the rules estimate,
and the reasoning says which source each deal used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions, normalise_stage
from core.cashflow.behaviour import organization_keys
from core.cashflow.columns import VALUE_FLAGS, Flag, compose_reasoning, day_array, text_part
from core.cashflow.engines import EngineContext, RulesEngine, register_engine
from core.cashflow.receivables import with_receivables
from core.cashflow.rules import apply_overrides, estimate_frame
from core.store import Store

#: Fewest paid invoices of one organization before its own payment delay is used.
MIN_PAYMENT_SAMPLES = 3
_QUANTILES = (0.1, 0.5, 0.9)

_HISTORY_SQL = """
SELECT s.as_of AS seen_at, d.deal_id, d.stage, d.status, d.organization, d.created_at,
       d.stage_changed_at, d.won_at, d.lost_at, d.invoice_date, d.payment_date
FROM deals d JOIN snapshots s ON s.id = d.snapshot_id
WHERE s.kind = 'deals' AND s.as_of <= ?
"""


def load_history(store: Store, as_of: dt.date) -> pd.DataFrame:
    """Every deal row of every deals snapshot with as-of on or before ``as_of``."""
    frame = store.query_df(_HISTORY_SQL, [as_of])
    for name in (
        "seen_at",
        "created_at",
        "stage_changed_at",
        "won_at",
        "lost_at",
        "invoice_date",
        "payment_date",
    ):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[s]")
    return frame


def stage_keys(stages: pd.Series, assumptions: Assumptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the stage's key (table name, else normalised name), and invoiced/paid flags."""
    codes, uniques = pd.factorize(stages)
    keys, invoiced, paid = [], [], []
    for raw in uniques:
        row = assumptions.match_stage(raw)
        keys.append(assumptions.stages[row].name if row is not None else normalise_stage(raw))
        invoiced.append(assumptions.is_invoiced_stage(raw))
        paid.append(assumptions.is_paid_stage(raw))

    def look(values: list, missing: object) -> np.ndarray:
        return np.asarray([*values, missing], dtype=object)[codes]

    return look(keys, ""), look(invoiced, False).astype(bool), look(paid, False).astype(bool)


def invoice_events(history: pd.DataFrame, assumptions: Assumptions) -> pd.DataFrame:
    """Per deal seen in ``history``: invoice event date, payment date, lost date (NaT if unknown).

    Invoice event: the invoice date, else the first day seen in an invoiced stage, else the
    won date. Payment: the payment date, else the day it entered a paid stage.
    """
    _, invoiced, paid = stage_keys(history["stage"], assumptions)
    status = history["status"].str.lower().to_numpy(dtype=object, na_value="")
    nat = np.datetime64("NaT", "s")
    work = pd.DataFrame(
        {
            "deal_id": history["deal_id"].to_numpy(),
            "invoice_date": history["invoice_date"].to_numpy(),
            "invoiced_stage": np.where(invoiced, history["stage_changed_at"].to_numpy(), nat),
            "won_at": np.where(status == "won", history["won_at"].to_numpy(), nat),
            "payment_date": history["payment_date"].to_numpy(),
            "paid_stage": np.where(paid, history["stage_changed_at"].to_numpy(), nat),
            "lost_at": np.where(
                status == "lost", history["lost_at"].fillna(history["seen_at"]).to_numpy(), nat
            ),
        }
    )
    first = work.groupby("deal_id", sort=False).min()
    events = pd.DataFrame(index=first.index)
    events["invoice_event"] = first["invoice_date"].fillna(first["invoiced_stage"]).fillna(first["won_at"])
    events["payment_event"] = first["payment_date"].fillna(first["paid_stage"])
    events["lost_at"] = first["lost_at"]
    return events


@dataclass
class StageCurve:
    """Kaplan-Meier survival of the days from entering a stage to the invoice event."""

    times: np.ndarray
    survival: np.ndarray
    events: int

    def remaining(self, age: np.ndarray, q: float) -> np.ndarray:
        """Days left until the invoice at quantile ``q``, given ``age`` days in the stage (NaN: not known)."""
        position = np.searchsorted(self.times, age, side="right") - 1
        alive = np.where(position >= 0, self.survival[np.maximum(position, 0)], 1.0)
        target = alive * (1.0 - q)
        hit = np.searchsorted(-self.survival, -target - 1e-12, side="left")
        reached = (hit < len(self.times)) & (alive > 0)
        when = self.times[np.minimum(hit, len(self.times) - 1)]
        return np.where(reached, np.maximum(when - age, 0.0), np.nan)


def _kaplan_meier(entry_age: np.ndarray, duration: np.ndarray, observed: np.ndarray) -> StageCurve:
    """Survival with delayed entry: at risk at t are records seen by t and not ended before t."""
    times = np.unique(duration[observed])
    entries = np.sort(entry_age)
    ends = np.sort(duration)
    at_risk = np.searchsorted(entries, times, side="right") - np.searchsorted(ends, times, side="left")
    deaths = np.bincount(np.searchsorted(times, duration[observed]), minlength=len(times))
    factors = 1.0 - deaths / np.maximum(at_risk, 1)
    return StageCurve(
        times=times.astype(np.float64), survival=np.cumprod(factors), events=int(observed.sum())
    )


@dataclass
class LearnedModel:
    """What the history taught, per stage key and per organization."""

    as_of: dt.date
    curves: dict[str, StageCurve] = field(default_factory=dict)
    observed: dict[str, int] = field(default_factory=dict)
    win_rates: dict[str, tuple[float, int]] = field(default_factory=dict)
    payment_days: dict[str, tuple[float, int]] = field(default_factory=dict)
    snapshots: int = 0

    def learned_stages(self, min_samples: int) -> list[str]:
        return sorted(key for key, curve in self.curves.items() if curve.events >= min_samples)


def fit(history: pd.DataFrame, as_of: dt.date, assumptions: Assumptions) -> LearnedModel:
    """Learn stage curves, win rates and payment delays from snapshot rows up to ``as_of``."""
    cutoff = np.datetime64(as_of, "s")
    history = history[history["seen_at"] <= cutoff]
    model = LearnedModel(as_of=as_of, snapshots=int(history["seen_at"].nunique()))
    if history.empty:
        return model
    events = invoice_events(history, assumptions)
    events = events.where(events <= cutoff)  # nothing later than the cut-off is known

    keys, invoiced, paid = stage_keys(history["stage"], assumptions)
    status = history["status"].str.lower().to_numpy(dtype=object, na_value="")
    open_rows = ~invoiced & ~paid & ~np.isin(status, ("lost", "deleted")) & (keys != "")
    entry = history["stage_changed_at"].fillna(history["created_at"]).to_numpy()
    records = pd.DataFrame(
        {
            "deal_id": history["deal_id"].to_numpy()[open_rows],
            "stage": keys[open_rows],
            "entry": entry[open_rows],
            "seen_at": history["seen_at"].to_numpy()[open_rows],
        }
    ).dropna(subset=["entry"])
    records = records.groupby(["deal_id", "stage", "entry"], as_index=False, sort=False)["seen_at"].min()
    records = records.join(events, on="deal_id")
    invoice_at = records["invoice_event"].to_numpy()
    end = np.where(
        ~np.isnat(invoice_at),
        invoice_at,
        np.where(~np.isnat(records["lost_at"].to_numpy()), records["lost_at"].to_numpy(), cutoff),
    )
    days = np.timedelta64(1, "D")
    duration = (end - records["entry"].to_numpy()) / days
    entry_age = (records["seen_at"].to_numpy() - records["entry"].to_numpy()) / days
    observed = ~np.isnat(invoice_at)
    valid = (duration >= entry_age) & (entry_age >= 0)
    for stage, rows in pd.Series(np.arange(len(records)))[valid].groupby(records["stage"][valid]):
        index = rows.to_numpy()
        if observed[index].any():
            model.curves[stage] = _kaplan_meier(entry_age[index], duration[index], observed[index])
        model.observed[stage] = int(observed[index].sum())
        won = observed[index] | ~np.isnat(records["invoice_event"].to_numpy()[index])
        lost = ~np.isnat(records["lost_at"].to_numpy()[index]) & ~won
        if won.sum() + lost.sum():
            model.win_rates[stage] = (
                float(won.sum() / (won.sum() + lost.sum())),
                int(won.sum() + lost.sum()),
            )

    delays = (events["payment_event"] - events["invoice_event"]).dt.days
    organization = history.groupby("deal_id", sort=False)["organization"].last().reindex(events.index)
    paid_delays = pd.DataFrame({"org": organization_keys(organization), "days": delays}).dropna()
    paid_delays = paid_delays[(paid_delays["days"] >= 0) & (paid_delays["org"] != "")]
    for org, group in paid_delays.groupby("org"):
        model.payment_days[str(org)] = (float(group["days"].median()), len(group))
    return model


class LearnedEngine:
    """Predicts from the store's history up to the as-of date; rules where history is thin."""

    def __init__(self, *, require_history: bool = False) -> None:
        self.require_history = require_history

    def fit_for(self, context: EngineContext) -> LearnedModel:
        if context.store is None:
            return LearnedModel(as_of=context.as_of)
        return fit(load_history(context.store, context.as_of), context.as_of, context.assumptions)

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        model = self.fit_for(context)
        if self.require_history and not model.learned_stages(context.options.min_samples):
            return RulesEngine().predict(deals, context)
        return predict_learned(deals, context, model)


def predict_learned(deals: pd.DataFrame, context: EngineContext, model: LearnedModel) -> pd.DataFrame:
    """Rules estimates, then learned invoice dates, probabilities and terms where history allows."""
    a, minimum = context.assumptions, context.options.min_samples
    today = np.datetime64(context.as_of, "D")
    est = estimate_frame(deals, context.as_of, a)
    keys, _, _ = stage_keys(deals["stage"], a)
    forecast = (est["kind"] == "forecast").to_numpy() & ~est["invoice_is_fact"].to_numpy(bool)
    age = est["days_in_stage"].to_numpy(dtype=np.float64)
    bits = est["flag_bits"].to_numpy(dtype=np.int64)

    invoice = day_array(est["predicted_invoice_date"])
    p10, p90 = day_array(est["invoice_p10"]), day_array(est["invoice_p90"])
    confidence = est["confidence"].to_numpy(dtype=np.float64)
    learned = np.zeros(len(est), dtype=bool)
    stage_names = sorted(set(keys[forecast].tolist()))
    note_codes = np.full(len(est), -1)
    notes: list[str] = []
    for stage in stage_names:
        rows = forecast & (keys == stage)
        curve = model.curves.get(stage)
        seen = model.observed.get(stage, 0)
        if curve is None or curve.events < minimum:
            notes.append(
                f"too little history for stage '{stage}' ({seen} invoiced, {minimum} needed), "
                "stage table used"
            )
            note_codes[rows] = len(notes) - 1
            continue
        low, mid, high = (curve.remaining(age[rows], q) for q in _QUANTILES)
        ok = ~np.isnan(mid)
        index = np.flatnonzero(rows)[ok]
        high = np.where(np.isnan(high[ok]), np.maximum(mid[ok], curve.times[-1] - age[index]), high[ok])
        invoice[index] = today + np.ceil(mid[ok]).astype("timedelta64[D]")
        p10[index] = today + np.floor(low[ok]).astype("timedelta64[D]")
        p90[index] = today + np.ceil(high).astype("timedelta64[D]")
        learned[index] = True
        notes.append(
            f"stage '{stage}': learned from {curve.events} deals that reached an invoice, "
            "remaining time given the days already in stage"
        )
        note_codes[index] = len(notes) - 1
        notes.append(
            f"stage '{stage}': this deal is older in its stage than the history covers, stage table used"
        )
        note_codes[np.flatnonzero(rows)[~ok]] = len(notes) - 1

    late = (bits & int(Flag.LATE_STAGE)) != 0
    penalty = np.where(
        (bits & int(Flag.CREATED_IN_FUTURE | Flag.STAGE_CHANGE_BEFORE_CREATED | Flag.STAGE_CHANGE_IN_FUTURE))
        != 0,
        a.data_issue_penalty,
        0.0,
    )
    confidence = np.where(
        learned, np.where(late, a.late_stage_confidence, a.base_confidence) - penalty, confidence
    )
    note = text_part(note_codes, notes)
    rules_reason = pd.Categorical(est["invoice_reason"]).copy()
    rules_reason[learned] = np.nan
    est["invoice_reason"] = compose_reasoning(
        [note, rules_reason], np.zeros(len(est), np.int64), {}, sentence=False
    )
    est["predicted_invoice_date"] = invoice
    est["invoice_p10"], est["invoice_p90"] = p10, p90
    est["confidence"] = confidence
    est.loc[learned, "method"] = "learned"
    _learned_probabilities(est, keys, deals, model, minimum)
    _learned_terms(est, deals, model)
    est = with_receivables(est, deals, context.receivables)
    return apply_overrides(est, context.as_of, a)


def _learned_probabilities(
    est: pd.DataFrame, keys: np.ndarray, deals: pd.DataFrame, model: LearnedModel, minimum: int
) -> None:
    """A stage's historical win rate for open deals without a probability of their own."""
    own = deals["probability"].to_numpy(dtype=np.float64, na_value=np.nan)
    status = deals["status"].str.lower().to_numpy(dtype=object, na_value="open")
    rate = (
        np.array(
            [
                model.win_rates.get(k, (np.nan, 0))[0]
                if model.win_rates.get(k, (0, 0))[1] >= minimum
                else np.nan
                for k in keys.tolist()
            ],
            dtype=np.float64,
        )
        if len(keys)
        else np.zeros(0)
    )
    use = np.isnan(own) & (status != "won") & ~np.isnan(rate)
    if not use.any():
        return
    probability = np.where(use, rate, est["probability"].to_numpy(dtype=np.float64))
    bits = est["flag_bits"].to_numpy(dtype=np.int64)
    value = np.nan_to_num(est["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    est["probability"] = probability
    est["weighted_value"] = np.where((bits & int(VALUE_FLAGS)) == 0, value * probability, 0.0)


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
register_engine("auto", LearnedEngine(require_history=True))
