"""``auto`` backtests a pair of snapshots once: the choice is stored under a key of all it depends on."""

from __future__ import annotations

import contextlib
import datetime as dt

import duckdb
import pandas as pd
import pytest

import core.cashflow.auto as auto
import core.cashflow.backtest as backtest
import core.cashflow.learned as learned
from core.cashflow import CashflowPredictionService, PredictionOptions
from core.sample.outcomes import generate_outcome_case
from core.store import Store
from tests.cashflow.helpers import save


@pytest.fixture
def backtests(monkeypatch) -> list[str]:
    """The engines backtested so far (every call of ``backtest_detail``)."""
    calls: list[str] = []
    real = backtest.backtest_detail

    def counted(*args, **kwargs):
        calls.append(kwargs["engine"])
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest, "backtest_detail", counted)
    return calls


def auto_reason(store: Store, snapshot: int, **options) -> str:
    run = CashflowPredictionService(store).run(snapshot, PredictionOptions(engine="auto", **options))
    return run.frame["reasoning"].iloc[0].split(". ")[0]


def test_auto_backtests_a_pair_once_even_in_a_new_process_and_again_after_a_new_snapshot(tmp_path, backtests):
    case = generate_outcome_case(deals=300, seed=3, history_days=200, later_days=90)
    path = str(tmp_path / "dealcast.duckdb")
    with Store(path) as store:
        first = save(store, case.export_deals, case.as_of, "export.csv")
        later = save(store, case.later_deals, case.later_as_of, "later.csv")
        reason = auto_reason(store, later)
        assert sorted(backtests) == ["learned", "rules"]
        assert auto_reason(store, later) == reason  # the same process
    with Store(path) as store:  # a new process opens the same file
        assert auto_reason(store, later) == reason
        assert len(backtests) == 2
        auto_reason(store, later, min_samples=3)  # other options: another choice
        assert len(backtests) == 4
        # A snapshot dated between the pair is history the backtests read: choose again.
        save(store, case.later_deals, case.as_of + dt.timedelta(days=30), "between.csv")
        auto_reason(store, later)
        assert len(backtests) == 6
        # A later snapshot makes a new latest pair for a forecast from it, not for one from before.
        newest = save(store, case.later_deals, case.later_as_of + dt.timedelta(days=7), "newest.csv")
        assert f"against {newest}" in auto_reason(store, newest)
        assert len(backtests) == 8
        auto_reason(store, later)
        assert len(backtests) == 8
        assert first < later < newest


def test_auto_with_one_snapshot_fits_the_learned_model_once(monkeypatch, backtests):
    fits = []

    def counted(*args, **kwargs):
        fits.append(args[1])
        return real(*args, **kwargs)

    real = learned.fit
    monkeypatch.setattr(learned, "fit", counted)
    monkeypatch.setattr(auto, "fit", counted)
    case = generate_outcome_case(deals=300, seed=3, history_days=200, later_days=90)
    with Store(":memory:") as store:
        first = save(store, case.export_deals, case.as_of, "export.csv")
        service = CashflowPredictionService(store)
        frame = service.run(first, PredictionOptions(engine="auto", store_results=False)).frame
        alone = service.run(first, PredictionOptions(engine="learned", store_results=False)).frame
    assert fits == [case.as_of, case.as_of] and backtests == []  # once for auto, once for learned alone
    assert frame["reasoning"].str.startswith("Auto chose learned: one snapshot").all()
    pd.testing.assert_series_equal(frame["predicted_invoice_date"], alone["predicted_invoice_date"])


def test_a_choice_another_session_stored_meanwhile_is_not_an_error(tmp_path, monkeypatch):
    """Eight dashboard sessions may back-test the same pair at once; the commits after the first
    conflict on the key, and the stored row is the same choice."""
    case = generate_outcome_case(deals=200, seed=4, history_days=200, later_days=90)
    with Store(str(tmp_path / "dealcast.duckdb")) as store:
        save(store, case.export_deals, case.as_of, "export.csv")
        later = save(store, case.later_deals, case.later_as_of, "later.csv")
        real = Store.transaction

        @contextlib.contextmanager
        def conflicting(self):
            with real(self) as cur:
                yield cur
            raise duckdb.TransactionException("Failed to commit: PRIMARY KEY or UNIQUE constraint violation")

        monkeypatch.setattr(Store, "transaction", conflicting)
        reason = auto_reason(store, later, store_results=False)  # its row landed: the conflict is ignored
        assert reason.startswith("Auto chose")
        assert store.fetchone("SELECT count(*) FROM auto_choices") == (1,)

        store.execute("DELETE FROM auto_choices")
        monkeypatch.setattr(Store, "transaction", lambda self: _failing())
        with pytest.raises(duckdb.TransactionException):  # a conflict that stored nothing is an error
            auto_reason(store, later, store_results=False)


@contextlib.contextmanager
def _failing():
    raise duckdb.TransactionException("Failed to commit")
    yield
