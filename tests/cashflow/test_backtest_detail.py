"""The backtest's detail (scored deals, weekly cash) agrees with the metrics computed from it."""

from __future__ import annotations

import numpy as np
import pytest

from core.bootstrap import load_sample_data
from core.cashflow import run_backtest
from core.cashflow.backtest import backtest_detail
from core.store import Store


@pytest.fixture(scope="module")
def sample():
    with Store(":memory:") as store:
        load_sample_data(store)
        yield store, [s.id for s in store.list_snapshots()]


def _mean(values) -> float | None:
    return round(float(np.mean(values)), 2) if len(values) else None


@pytest.mark.parametrize("engine", ["rules", "learned", "auto"])
@pytest.mark.parametrize("pair", [(0, -1), (3, 5)])
def test_backtest_detail_recomputes_the_metrics_of_run_backtest(sample, engine, pair):
    store, ids = sample
    start, end = ids[pair[0]], ids[pair[1]]
    result = run_backtest(store, start, end, engine=engine)
    detail = backtest_detail(store, start, end, engine=engine)
    invoice = detail.deals["invoice_error_days"].dropna()
    payment = detail.deals["payment_error_days"].dropna()
    assert len(invoice) == result.deals_evaluated
    assert len(payment) == result.payments_evaluated
    assert _mean(invoice.abs()) == result.invoice_mae_days
    assert _mean(payment.abs()) == result.payment_mae_days
    assert _mean(invoice) == result.bias_days
    assert _mean(detail.deals.loc[invoice.index, "invoice_in_band"]) == result.band_coverage
    weeks = detail.weeks
    wape = (weeks["predicted_cash"] - weeks["actual_cash"]).abs().sum() / weeks["actual_cash"].sum()
    assert wape == pytest.approx(result.wape, abs=1e-4)


def test_backtest_detail_weeks_cover_from_to_and_errors_are_long_form(sample):
    store, ids = sample
    detail = backtest_detail(store, ids[0], ids[-1], engine="rules")
    first, last = store.get_snapshot(ids[0]).as_of, store.get_snapshot(ids[-1]).as_of
    assert detail.weeks["start"].iloc[0] <= first <= detail.weeks["start"].iloc[0] + np.timedelta64(6, "D")
    assert detail.weeks["start"].iloc[-1] <= last
    assert detail.weeks["period"].is_unique
    errors = detail.errors()
    assert set(errors["kind"]) == {"invoice", "payment"}
    assert (errors["engine"] == "rules").all()
    assert len(errors) == detail.deals["invoice_error_days"].notna().sum() + detail.deals[
        "payment_error_days"
    ].notna().sum()
