"""Receivables in the forecast: open invoices as cash items, deals paid like their customer, one total."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow import CashflowPredictionService, ForecastOptions, PredictionOptions, PredictionRun
from core.cashflow.reports import build_result
from core.errors import InputError
from core.store import Store
from tests.cashflow.helpers import deals, save
from tests.receivables.helpers import AS_OF, invoices, paid_history, save_invoices

NO_STORE = {"store_results": False}


def fill(store: Store) -> Store:
    """Deals as of AS_OF, and an invoice list: SABIC Ltd pays 10 days late, 3 open invoices."""
    save(
        store,
        deals(
            {"stage": "Awaiting GR", "organization": "SABIC"},
            {"stage": "Awaiting GR", "organization": "Unknown Client"},
            {
                "stage": "Invoice Issued",
                "organization": "SABIC",
                "invoice_date": AS_OF - dt.timedelta(days=3),
            },
        ),
        AS_OF,
    )
    frame = invoices(
        *paid_history("SABIC Ltd", [10] * 6, start=dt.date(2025, 9, 1)),
        {"invoice_id": "OPEN-1", "customer": "SABIC Ltd", "invoice_date": AS_OF - dt.timedelta(days=10)},
        {
            "invoice_id": "OPEN-2",
            "customer": "SABIC Ltd",
            "invoice_date": AS_OF - dt.timedelta(days=90),
            "amount": 500.0,
        },
        {
            "invoice_id": "OPEN-3",
            "customer": "New Customer",
            "invoice_date": AS_OF - dt.timedelta(days=5),
            "amount": -200.0,
            "deal_id": "3",
        },
    )
    save_invoices(store, frame, AS_OF)
    return store


@pytest.fixture
def store_with_receivables(store):
    return fill(store)


@functools.cache
def sample_run() -> PredictionRun:
    """One run over ``fill``'s data, shared by the property test's examples (it only aggregates)."""
    with Store(":memory:") as store:
        return run(fill(store))


def run(store, **options):
    return CashflowPredictionService(store).run("latest", PredictionOptions(**NO_STORE, **options))


def test_open_invoices_become_receivable_items_with_learned_or_fallback_dates(store_with_receivables):
    items = run(store_with_receivables).receivables.set_index("invoice_id")
    assert list(items.index) == ["OPEN-1", "OPEN-2", "OPEN-3"]
    assert set(items["method"]) == {"receivable"}
    fresh = items.loc["OPEN-1"]
    assert fresh["source"] == "learned"
    assert fresh["predicted_payment_date"] == dt.datetime(2026, 3, 2) + dt.timedelta(days=30)  # due + 10 late
    overdue = items.loc["OPEN-2"]
    assert overdue["predicted_payment_date"] == dt.datetime(2026, 3, 2)
    assert "overdue_rolled" in overdue["flags"] and "rolled to the as-of date" in overdue["reasoning"]
    credit = items.loc["OPEN-3"]
    assert (credit["source"], credit["amount_base"]) == ("fallback", -200.0)
    assert "credit_note" in credit["flags"]


def test_deals_take_the_payment_terms_their_customer_shows(store_with_receivables):
    frame = run(store_with_receivables).frame.set_index("deal_id")
    assert frame.loc["1", "payment_terms_days"] == 40  # SABIC Ltd: 30-day terms, paid 10 days late
    assert "customer 'SABIC Ltd'" in frame.loc["1", "reasoning"]
    assert frame.loc["2", "payment_terms_days"] == 37  # no history: the default terms
    without = run(store_with_receivables, receivables=None).frame.set_index("deal_id")
    assert without.loc["1", "payment_terms_days"] == 37


def test_a_deal_whose_invoice_is_in_the_receivables_is_counted_once(store_with_receivables):
    result = run(store_with_receivables)
    deal = result.frame.set_index("deal_id").loc["3"]
    assert "in_receivables" in deal["flags"]
    agg = result.aggregate(ForecastOptions(horizon_days=120, min_confidence=0))
    assert agg.excluded["in_receivables"] == {"count": 1, "value": 1000.0}


@settings(max_examples=40, deadline=None)
@given(
    horizon=st.integers(1, 200),
    threshold=st.floats(0, 1),
    granularity=st.sampled_from(["week", "month"]),
    owner=st.sampled_from([None, "Omar"]),
)
def test_property_totals_reconcile_across_receivables_and_pipeline(horizon, threshold, granularity, owner):
    forecast = ForecastOptions(
        horizon_days=horizon, min_confidence=threshold, granularity=granularity, owner=owner
    )
    result = build_result(sample_run(), forecast, include_deals=False)
    t = result.totals
    assert t.cash_in == pytest.approx(t.cash_in_pipeline + t.cash_in_receivables, abs=0.05)
    for bucket in result.buckets:
        assert bucket.cash_in == pytest.approx(bucket.cash_in_pipeline + bucket.cash_in_receivables, abs=0.05)
    excluded = sum(a.value for a in result.excluded.values())
    assert t.cash_in_pipeline + excluded == pytest.approx(t.forecast_value, abs=0.05)
    r = result.receivables
    left_out = r["beyond_horizon"].value + r["filtered_out"].value + r["invalid_value"].value
    assert r["in_periods"].value + left_out == pytest.approx(r["open"].value, abs=0.05)
    assert r["in_periods"].value == pytest.approx(t.cash_in_receivables, abs=0.05)
    assert result.metadata.receivables_snapshot_id is not None


def test_latest_receivables_ignore_invoice_snapshots_dated_after_the_forecast(store):
    save(store, deals({"stage": "Awaiting GR"}), AS_OF)
    later = save_invoices(store, invoices({"invoice_id": "X"}), AS_OF + dt.timedelta(days=7))
    assert run(store).receivables is None
    with pytest.raises(InputError, match="after the forecast's as-of date"):
        run(store, receivables=later)


def test_without_invoice_snapshots_the_forecast_is_the_deals_only_forecast(store):
    save(store, deals({"stage": "Awaiting GR"}, {"stage": "Approved"}), AS_OF)
    with_default, without = run(store), run(store, receivables=None)
    assert with_default.receivables is None
    assert with_default.frame.equals(without.frame)
