"""Overview numbers: KPIs of a forecast run and the changes between two snapshots."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bootstrap import load_sample_data
from core.cashflow import CashflowPredictionService, ForecastOptions, PredictionOptions
from core.overview import (
    CASH_HORIZONS,
    CHANGE_KINDS,
    change_counts,
    kpi_deltas,
    overview_kpis,
    previous_snapshot,
    snapshot_changes,
)
from core.store import Store
from tests.cashflow.helpers import AS_OF, days_ago, days_ahead, deals, save

RULES = PredictionOptions(engine="rules", store_results=False)
LONG_AGO = days_ago(400)


def kpis_of(store: Store, frame: pd.DataFrame, **kwargs):
    snapshot_id = save(store, frame, AS_OF)
    return overview_kpis(CashflowPredictionService(store).run(snapshot_id, RULES), **kwargs)


def test_overview_kpis_count_open_pipeline_with_usable_values_and_weight_it(store):
    kpis = kpis_of(
        store,
        deals(
            {"stage": "Awaiting GR", "probability": 0.5},
            {"stage": "Approved", "value": 3000.0, "value_base": 3000.0, "probability": 0.2},
            {"stage": "Approved", "currency": "XYZ", "value_base": None},
            {"stage": "Payment Received", "status": "won"},
            {"stage": "Approved", "status": "lost"},
        ),
    )
    assert (kpis.open_count, kpis.open_value) == (2, 4000.0)
    assert kpis.weighted_value == 500.0 + 600.0
    assert (kpis.snapshot_id, kpis.as_of, kpis.base_currency) == (1, AS_OF, "SAR")


def test_overview_kpis_cash_expected_is_the_forecast_total_for_each_horizon(store):
    # Awaiting GR: invoice in 7 days, paid 37 days later (day 44);
    # Order Received: invoice on day 42, paid on day 79.
    kpis = kpis_of(store, deals({"stage": "Awaiting GR"}, {"stage": "Order Received", "probability": 0.5}))
    assert kpis.cash_expected == {30: 0.0, 60: 1000.0, 90: 1500.0}


def test_overview_kpis_cash_expected_honours_the_confidence_threshold(store):
    # Unknown stage: 45 days to invoice at confidence 0.50.
    frame = deals({"stage": "Somewhere"})
    assert kpis_of(store, frame).cash_expected[90] == 1000.0
    with Store(":memory:") as other:
        assert kpis_of(other, frame, min_confidence=0.6).cash_expected[90] == 0.0


def test_overview_kpis_overdue_counts_payments_already_due(store):
    kpis = kpis_of(
        store,
        deals(
            {"stage": "Invoice Issued", "status": "won", "invoice_date": days_ago(60), "value_base": 700.0},
            {"stage": "Invoice Issued", "status": "won", "invoice_date": days_ago(3)},
        ),
    )
    assert (kpis.overdue_count, kpis.overdue_value) == (1, 700.0)


def in_stage(stage: str, days: int, **fields) -> dict:
    return {"stage": stage, "created_at": LONG_AGO, "stage_changed_at": days_ago(days), **fields}


def test_overview_kpis_deals_at_risk_are_open_deals_past_their_stage_warning_mark(store):
    # Approved: warning at 5 days in stage, critical at 10 (DESIGN 7).
    kpis = kpis_of(
        store,
        deals(
            in_stage("Approved", 4),
            in_stage("Approved", 6, value_base=200.0),
            in_stage("Approved", 12, value_base=300.0),
            in_stage("Approved", 30, status="won"),
            in_stage("Mystery", 300),
        ),
    )
    assert (kpis.at_risk_count, kpis.at_risk_value, kpis.critical_count) == (2, 500.0, 1)


def test_kpi_deltas_subtract_the_previous_snapshot_and_are_none_without_one(store):
    current = kpis_of(store, deals({"stage": "Awaiting GR"}, {"stage": "Awaiting GR"}))
    with Store(":memory:") as other:
        previous = kpis_of(other, deals({"stage": "Awaiting GR"}))
    deltas = kpi_deltas(current, previous)
    assert deltas["open_count"] == 1
    assert deltas["open_value"] == 1000.0
    assert deltas["cash_60"] == 1000.0
    assert set(deltas) >= {f"cash_{days}" for days in CASH_HORIZONS}
    assert all(value is None for value in kpi_deltas(current, None).values())


def test_overview_kpis_on_the_sample_agree_with_the_deals_and_the_forecast():
    with Store(":memory:") as store:
        load_sample_data(store)
        latest = store.resolve_snapshot("latest")
        run = CashflowPredictionService(store).run(latest.id, RULES)
        kpis = overview_kpis(run)
        open_value = store.cursor().execute(
            "SELECT sum(value_base) FROM deals WHERE snapshot_id = ? AND status = 'open'", [latest.id]
        ).fetchone()[0]
        assert kpis.open_value == pytest.approx(open_value, abs=0.01)
        for days in CASH_HORIZONS:
            totals = run.aggregate(ForecastOptions(horizon_days=days)).totals
            assert kpis.cash_expected[days] == totals["cash_in"]
        assert kpis.cash_expected[30] <= kpis.cash_expected[60] <= kpis.cash_expected[90]


def test_previous_snapshot_is_the_one_before_in_as_of_order(store):
    later = save(store, deals({}), days_ahead(7), "later.csv")
    first = save(store, deals({}), AS_OF, "first.csv")
    assert previous_snapshot(store, store.get_snapshot(later)).id == first
    assert previous_snapshot(store, store.get_snapshot(first)) is None


def test_snapshot_changes_name_each_kind_of_change():
    before = deals(
        {"deal_id": "moved", "stage": "Approved"},
        {"deal_id": "slipped", "stage": "Approved", "expected_close": days_ahead(10)},
        {"deal_id": "won", "stage": "Awaiting GR"},
        {"deal_id": "lost", "stage": "Approved"},
        {"deal_id": "vanished", "stage": "Approved"},
        {"deal_id": "same", "stage": "Approved", "expected_close": days_ahead(10)},
    )
    after = deals(
        {"deal_id": "moved", "stage": "Awaiting Payment"},
        {"deal_id": "slipped", "stage": "Approved", "expected_close": days_ahead(24)},
        {"deal_id": "won", "stage": "Awaiting GR", "status": "won"},
        {"deal_id": "lost", "stage": "Approved", "status": "lost"},
        {"deal_id": "new", "stage": "Approved"},
        {"deal_id": "same", "stage": "Approved", "expected_close": days_ahead(3)},
    )
    changes = snapshot_changes(before, after)
    assert changes[["change", "deal_id"]].astype(str).values.tolist() == [
        [kind, kind] for kind in CHANGE_KINDS
    ]
    by_deal = changes.set_index("deal_id")
    assert (by_deal.loc["moved", "stage_before"], by_deal.loc["moved", "stage_after"]) == (
        "Approved",
        "Awaiting Payment",
    )
    assert by_deal.loc["slipped", "slip_days"] == 14
    assert pd.isna(by_deal.loc["moved", "slip_days"])
    assert pd.isna(by_deal.loc["new", "stage_before"]) and by_deal.loc["new", "title_after"] == "Deal 5"
    assert change_counts(changes) == dict.fromkeys(CHANGE_KINDS, 1)


def test_snapshot_changes_list_a_deal_once_per_kind_and_count_invoice_date_slips():
    before = deals({"stage": "Invoice Issued", "status": "open", "invoice_date": days_ago(2)})
    after = deals({"stage": "Payment Received", "status": "won", "invoice_date": days_ahead(5)})
    changes = snapshot_changes(before, after)
    assert changes["change"].astype(str).tolist() == ["moved", "slipped", "won"]
    assert changes["slip_days"].tolist()[1] == 7


def test_snapshot_changes_of_identical_snapshots_are_empty_with_every_column():
    frame = deals({"stage": "Approved"}, {"stage": "Awaiting GR"})
    changes = snapshot_changes(frame, frame)
    assert changes.empty
    assert list(changes.columns[:3]) == ["change", "deal_id", "slip_days"]
    assert change_counts(changes) == dict.fromkeys(CHANGE_KINDS, 0)


@settings(max_examples=40, deadline=None)
@given(
    before=st.sets(st.integers(1, 30), max_size=20),
    after=st.sets(st.integers(1, 30), max_size=20),
)
def test_snapshot_changes_new_and_vanished_are_the_set_differences(before, after):
    def frame(ids):
        return deals(*({"deal_id": str(i), "stage": "Approved"} for i in sorted(ids)))

    changes = snapshot_changes(frame(before), frame(after))
    kinds = changes.groupby("change", observed=False)["deal_id"].apply(set)
    assert kinds["new"] == {str(i) for i in after - before}
    assert kinds["vanished"] == {str(i) for i in before - after}
    assert changes[changes["change"].isin(["moved", "slipped", "won", "lost"])].empty
