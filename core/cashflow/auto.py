"""The ``auto`` engine: the engine whose latest backtest scored better, with the figures said.

With two or more snapshots dated on or before the forecast's as-of, ``auto`` backtests the
rules and the learned engine on the latest pair (the forecast of the one before from the one
before that, both known then) and uses the one with the lower invoice-value WAPE; a tie, or
no value to score, goes to the lower close-date MAE, and then to the learned engine. With one
snapshot there is nothing to score: the learned engine when the history holds enough won
deals, else the rules. Every deal's reasoning starts with the choice and its figures.

A choice by backtest is stored (table ``auto_choices``) under a key of all it depends on: the
pair, every snapshot (deals or invoices) dated up to the later one (the backtests read them
all), the assumptions, ``min_samples`` and Dealcast's version. The next forecast, in this
process or another, reads it instead of backtesting again; a new snapshot in that span, other
assumptions or another version make a new key (a read-only database only reads).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb
import pandas as pd

import core
from core.cashflow.engines import EngineContext, get_engine, register_engine
from core.cashflow.history import read_arrow
from core.cashflow.learned import predict_learned
from core.cashflow.learned_model import LearnedModel, fit
from core.store import Store

CANDIDATES = ("rules", "learned")


@dataclass(frozen=True)
class Choice:
    """The engine ``auto`` uses and why (``model``: the learned model fitted to decide, reused to predict)."""

    engine: str
    reason: str
    model: LearnedModel | None = None


def _figures(result) -> str:
    wape = "n/a" if result.invoice_value_wape is None else f"{result.invoice_value_wape:.2f}"
    mae = "n/a" if result.invoice_mae_days is None else f"{result.invoice_mae_days:.1f} days"
    return f"{result.engine}: invoice-value WAPE {wape}, close-date MAE {mae}"


def _score(result) -> tuple[float, float]:
    inf = float("inf")
    wape = inf if result.invoice_value_wape is None else result.invoice_value_wape
    return wape, inf if result.invoice_mae_days is None else result.invoice_mae_days


def choose_engine(store: Store, context: EngineContext) -> Choice:
    """Backtest the candidates on the latest pair of snapshots up to the as-of date; pick the better."""
    from core.cashflow.backtest import backtest_detail  # the backtest runs the service, which loads us

    as_of = context.as_of
    dated = {}
    for snapshot in store.list_snapshots():
        if snapshot.as_of <= as_of:
            dated[snapshot.as_of] = snapshot.id  # the newest upload of a day stands for it
    days = sorted(dated)
    if len(days) < 2:
        model = fit(store, as_of, context.assumptions)
        if model.has_history(context.options.min_samples):
            return Choice(
                "learned",
                "auto chose learned: one snapshot, nothing to backtest yet, and its "
                f"history holds {model.ages.events if model.ages else 0} won deals",
                model,
            )
        return Choice("rules", "auto chose rules: one snapshot and too little history to learn from")
    start, end = dated[days[-2]], dated[days[-1]]
    key = _choice_key(store, start, end, context)
    stored = store.cursor().execute("SELECT engine, reason FROM auto_choices WHERE key = ?", [key]).fetchone()
    if stored is not None:
        return Choice(*stored)
    results = [
        backtest_detail(
            store,
            start,
            end,
            engine=name,
            assumptions=context.assumptions,
            min_samples=context.options.min_samples,
            baseline=False,
        ).result
        for name in CANDIDATES
    ]
    best = min(results, key=lambda r: (*_score(r), r.engine != "learned"))
    choice = Choice(
        best.engine,
        f"auto chose {best.engine} by the backtest of snapshot {start} ({days[-2]}) against {end} "
        f"({days[-1]}): " + "; ".join(_figures(r) for r in results),
    )
    if not store.read_only:
        _keep(store, key, end, choice)
    return choice


def _keep(store: Store, key: str, snapshot_id: int, choice: Choice) -> None:
    """Store a choice. Two sessions (the dashboard's) may back-test the same pair at once: the
    second commit then conflicts on the key, and the row the first stored serves as well."""
    try:
        with store.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO auto_choices (key, snapshot_id, engine, reason) VALUES (?, ?, ?, ?)",
                [key, snapshot_id, choice.engine, choice.reason],
            )
    except duckdb.TransactionException:
        if store.fetchone("SELECT 1 FROM auto_choices WHERE key = ?", [key]) is None:
            raise


def _choice_key(store: Store, start: int, end: int, context: EngineContext) -> str:
    """A digest of everything a choice between ``start`` and ``end`` depends on (module docstring)."""
    snapshots = read_arrow(
        store,
        "SELECT id FROM snapshots WHERE as_of <= (SELECT as_of FROM snapshots WHERE id = $end) ORDER BY id",
        {"end": end},
    )
    facts = {
        "pair": [start, end],
        "snapshots": snapshots.column(0).to_pylist(),
        "assumptions": context.assumptions.model_dump(mode="json"),
        "min_samples": context.options.min_samples,
        "version": core.__version__,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


class AutoEngine:
    """Uses the engine that scored better on the latest pair of snapshots."""

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        if context.store is None:
            return get_engine("rules").predict(deals, context)
        choice = choose_engine(context.store, context)
        if choice.model is not None:
            frame = predict_learned(deals, context, choice.model)
        else:
            frame = get_engine(choice.engine).predict(deals, context)
        reasons = frame["reasoning"].astype("category")
        prefix = choice.reason[:1].upper() + choice.reason[1:] + ". "
        frame["reasoning"] = reasons.cat.rename_categories([prefix + str(c) for c in reasons.cat.categories])
        return frame


register_engine("auto", AutoEngine())
