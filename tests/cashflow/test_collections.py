"""The Receivables page's frames: collections reconcile with the forecast items; samples follow the model."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from core.cashflow.assumptions import load_assumptions
from core.cashflow.behaviour import learn_behaviour
from core.cashflow.collections import days_to_pay_sample, default_backtest_as_of, expected_collections
from core.cashflow.receivable_cash import predict_receivables
from core.cashflow.receivables import resolve_receivables
from core.charts import CASH_COLOUR, aging_figure, collections_figure, days_to_pay_figure
from core.receivables import aging
from tests.receivables.helpers import AS_OF, invoices, paid_history, save_invoices


def history():
    """Acme pays 5 days late (8 invoices), Beta 20 days late (6), Gamma once; plus open invoices."""
    start = AS_OF - dt.timedelta(weeks=20)
    rows = [
        *paid_history("Acme Ltd", [5] * 8, start=start),
        *paid_history("Beta Co", [20] * 6, start=start),
        *paid_history("Gamma", [0], start=start),
        {"invoice_id": "OPEN-1", "customer": "Acme Ltd", "invoice_date": AS_OF - dt.timedelta(days=10)},
        {"invoice_id": "OPEN-2", "customer": "Beta Co", "invoice_date": AS_OF - dt.timedelta(days=70),
         "amount": 4000.0},
        {"invoice_id": "OPEN-3", "customer": "Gamma", "invoice_date": AS_OF - dt.timedelta(days=2),
         "amount": -300.0},
    ]
    return invoices(*rows)


@pytest.fixture
def items(store):
    snapshot_id = save_invoices(store, history(), AS_OF)
    found = resolve_receivables(store, snapshot_id, AS_OF, default_terms=37, min_samples=5)
    return predict_receivables(found, load_assumptions(store))


@pytest.mark.parametrize("granularity", ["week", "month"])
def test_expected_collections_reconcile_with_the_forecast_items(items, granularity):
    periods = expected_collections(items, AS_OF, granularity)
    assert len(items) == 3
    assert periods["cash_in_receivables"].sum() == pytest.approx(items["amount_base"].sum())
    assert periods["receivable_count"].sum() == len(items)
    assert (periods["cash_in_p10"] <= periods["cash_in_receivables"] + 1e-9).all()
    assert (periods["cash_in_receivables"] <= periods["cash_in_p90"] + 1e-9).all()


def test_expected_collections_put_each_invoice_in_its_predicted_week(items):
    periods = expected_collections(items, AS_OF, "week").set_index("start")
    for row in items.itertuples():
        paid = row.predicted_payment_date.date()
        monday = paid - dt.timedelta(days=paid.weekday())
        assert periods.loc[monday, "cash_in_receivables"] != 0


def test_expected_collections_without_open_invoices_are_one_empty_period(items):
    periods = expected_collections(items.iloc[:0], AS_OF, "month")
    assert len(periods) == 1
    assert periods["cash_in_receivables"].sum() == 0


def test_days_to_pay_sample_holds_the_top_customers_learned_invoices():
    frame = history()
    model = learn_behaviour(frame, AS_OF, default_terms=37)
    sample = days_to_pay_sample(frame, model, top=2)
    assert list(dict.fromkeys(sample["customer"])) == ["Acme Ltd", "Beta Co"]
    assert (sample["customer"] == "Acme Ltd").sum() == 8
    assert set(sample.loc[sample["customer"] == "Acme Ltd", "days_to_pay"]) == {35}
    assert set(sample.loc[sample["customer"] == "Beta Co", "days_to_pay"]) == {50}


def test_default_backtest_as_of_leaves_half_the_invoices_after_it():
    frame = history()
    as_of = default_backtest_as_of(frame)
    issued = frame["invoice_date"].dt.date
    assert as_of in set(issued)
    assert (issued <= as_of).sum() >= len(frame) / 2
    assert (issued >= as_of).sum() >= len(frame) / 2
    assert default_backtest_as_of(frame.iloc[:0]) is None


def test_receivables_figures_follow_their_data(items):
    buckets = aging(history(), AS_OF)
    bars = aging_figure(buckets, currency="SAR").data[0]
    assert list(bars.x) == list(buckets["bucket"])
    assert np.allclose(bars.y, buckets["amount_base"])

    periods = expected_collections(items, AS_OF, "week")
    cash = next(t for t in collections_figure(periods, currency="SAR").data if t.type == "bar")
    assert cash.marker.color == CASH_COLOUR
    assert np.allclose(cash.y, periods["cash_in_receivables"])

    sample = days_to_pay_sample(history(), learn_behaviour(history(), AS_OF), top=3)
    box = days_to_pay_figure(sample)
    assert np.array_equal(box.data[0].x, sample["days_to_pay"].astype(float))
    assert list(box.layout.yaxis.categoryarray) == ["Gamma", "Beta Co", "Acme Ltd"]
