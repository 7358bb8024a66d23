"""The learned engine and the backtest on generated history whose cycle times differ from the seed table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from core.cashflow import CashflowPredictionService, PredictionOptions, run_backtest
from core.cashflow.assumptions import SEED_PROFILE
from core.cashflow.history import deal_facts
from core.cashflow.learned_model import fit
from core.cashflow.survival import fit_outcomes
from core.errors import InputError
from core.sample import generate_history
from core.store import Store
from tests.cashflow.helpers import save_history


@pytest.fixture(scope="module")
def fast_history():
    """Deals that move through their stages twice as fast as the seed table assumes."""
    history = generate_history(deals=400, snapshots=10, seed=7, stage_days_scale=0.5, messy=0.0)
    with Store(":memory:") as store:
        ids = save_history(store, history)
        store.history = history  # the generated snapshots, for tests that store a part of them
        yield store, ids


def test_outcome_curve_conditions_on_time_already_spent():
    ends = np.array([10.0, 20.0, 30.0, 40.0])
    curve = fit_outcomes(np.zeros(4), ends, np.ones(4, dtype=bool), np.zeros(4, dtype=bool))
    assert curve.days_left(np.array([0.0]), 0.5)[0] == 20.0
    # 25 days in: only the 30- and 40-day deals are left, so the median is 5 more days, never negative.
    assert curve.days_left(np.array([25.0]), 0.5)[0] == 5.0
    assert np.isnan(curve.days_left(np.array([45.0]), 0.5)[0])


def test_outcome_curve_win_chance_is_the_share_won_of_deals_still_open():
    # Won at 10 and 20 days, lost at 30 and 40: of the deals open at 15 days, one in three was won.
    ends = np.array([10.0, 20.0, 30.0, 40.0])
    won = np.array([True, True, False, False])
    curve = fit_outcomes(np.zeros(4), ends, won, ~won)
    assert curve.overall_win_chance() == pytest.approx(0.5)
    assert curve.win_chance(np.array([15.0]), 0.5, 0.0)[0] == pytest.approx(1 / 3)
    assert curve.win_chance(np.array([35.0]), 0.5, 0.0)[0] == 0.0
    # Few deals left after 35 days: shrunk toward the overall rate by the prior's weight.
    assert curve.win_chance(np.array([35.0]), 0.5, 1.0)[0] == pytest.approx(0.25)


def test_outcome_curve_censoring_and_delayed_entry():
    # A deal still open at 50 days (censored) counts as at risk until then, and a deal first seen
    # at 25 days (delayed entry) is not at risk before it.
    curve = fit_outcomes(
        np.array([0.0, 0.0, 25.0]),
        np.array([10.0, 50.0, 30.0]),
        np.array([True, False, True]),
        np.array([False, False, False]),
    )
    assert curve.events == 2
    # At 10 days two deals were at risk (not the late entrant), so half the deals were won then.
    assert curve.wins[0] == pytest.approx(0.5)
    assert curve.days_left(np.array([20.0]), 0.5)[0] == 10.0


def test_learned_model_uses_no_history_after_the_as_of_date(fast_history):
    store, ids = fast_history
    early = store.get_snapshot(ids[2]).as_of
    facts = deal_facts(store, early, SEED_PROFILE)
    assert np.nanmax(facts[["last_seen", "invoice_event", "lost"]].to_numpy()) <= (
        early - dt.date(1970, 1, 1)
    ).days
    model = fit(store, early, SEED_PROFILE)
    assert model.snapshots == 3
    with Store(":memory:") as alone:
        save_history(alone, store.history[:3])
        same = fit(alone, early, SEED_PROFILE)
    assert same.closed == model.closed and same.ages.events == model.ages.events
    assert same.payment_days == model.payment_days
    assert sorted(same.stages) == sorted(model.stages)


def test_learned_engine_beats_rules_on_faster_history(fast_history):
    store, ids = fast_history
    rules = run_backtest(store, ids[4], ids[-1], engine="rules")
    learned = run_backtest(store, ids[4], ids[-1], engine="learned")
    print(
        f"\nbacktest {ids[4]}->{ids[-1]} invoice MAE days: rules {rules.invoice_mae_days}, "
        f"learned {learned.invoice_mae_days} ({learned.deals_evaluated} deals)"
    )
    assert rules.deals_evaluated == learned.deals_evaluated > 20
    assert learned.invoice_mae_days < rules.invoice_mae_days
    assert rules.bias_days > 0  # the seed table is too slow for this history
    for result in (rules, learned):
        assert 0 <= result.band_coverage <= 1
        assert result.wape is not None and result.payment_mae_days is not None


def test_learned_predictions_say_their_source(fast_history):
    store, ids = fast_history
    run = CashflowPredictionService(store).run(
        ids[-1], PredictionOptions(engine="learned", store_results=False)
    )
    forecast = run.frame[run.frame["kind"] == "forecast"]
    learned = forecast[forecast["method"] == "learned"]
    assert len(learned) > 0
    assert learned["reasoning"].str.contains(r"(?i)learned (?:by age )?from").all()
    fallback = forecast[(forecast["method"] == "rules") & ~forecast["invoice_is_fact"]]
    assert fallback["reasoning"].str.contains("stage table").all()
    assert (learned["predicted_invoice_date"] >= np.datetime64(run.as_of)).all()


def test_learned_engine_without_history_falls_back_to_rules(store):
    from tests.cashflow.helpers import AS_OF, deals

    service = CashflowPredictionService(store)
    frame = deals({"stage": "Approved"})
    learned = service.run_deals(frame, AS_OF, PredictionOptions(engine="learned"))
    rules = service.run_deals(frame, AS_OF, PredictionOptions(engine="rules"))
    assert learned.frame["predicted_invoice_date"].equals(rules.frame["predicted_invoice_date"])
    assert learned.frame["reasoning"].iloc[0].startswith("Too little history (0 won deals, 8 needed)")


def test_backtest_needs_a_later_to_snapshot(fast_history):
    store, ids = fast_history
    with pytest.raises(InputError, match="must be later"):
        run_backtest(store, ids[3], ids[1])


def test_backtest_from_the_last_but_one_snapshot_scores_only_what_happened(fast_history):
    store, ids = fast_history
    result = run_backtest(store, ids[-2], ids[-1], engine="auto")
    assert result.from_as_of < result.to_as_of
    assert result.as_json()["from"] == ids[-2]
    assert dt.date.fromisoformat(result.to_as_of) - dt.date.fromisoformat(result.from_as_of) == dt.timedelta(
        7
    )
