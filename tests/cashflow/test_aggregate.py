"""Aggregation (DESIGN 5.4) and the invariants every forecast keeps, as properties."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow import SEED_PROFILE, columns, predict_frame
from core.cashflow.aggregate import aggregate, period_label, period_starts
from core.deals import conform
from tests.cashflow.helpers import AS_OF, days_ago, deals

STAGES = [s.name for s in SEED_PROFILE.stages] + ["Invoice Issued", "Payment Received", "Lead In", None]

deal_rows = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(STAGES),
        "status": st.sampled_from(["open", "open", "won", "lost", "deleted", None]),
        "value_base": st.one_of(st.none(), st.floats(-1000, 1e6, allow_nan=False)),
        "probability": st.one_of(st.none(), st.floats(0, 1)),
        "organization": st.sampled_from(["Saudi Aramco", "Ma'aden", None]),
        "pipeline": st.sampled_from(["Projects", "Sales"]),
        "owner": st.sampled_from(["Sara", "Omar"]),
        "created_ago": st.integers(-5, 400),
        "changed_ago": st.one_of(st.none(), st.integers(-5, 400)),
        "invoiced_ago": st.one_of(st.none(), st.integers(0, 120)),
        "expected_in": st.one_of(st.none(), st.integers(-30, 200)),
    }
)


def frame_from(rows: list[dict]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            [
                {
                    "deal_id": str(i),
                    "stage": r["stage"],
                    "status": r["status"],
                    "value": r["value_base"],
                    "value_base": r["value_base"],
                    "probability": r["probability"],
                    "organization": r["organization"],
                    "pipeline": r["pipeline"],
                    "owner": r["owner"],
                    "created_at": days_ago(r["created_ago"]),
                    "stage_changed_at": None if r["changed_ago"] is None else days_ago(r["changed_ago"]),
                    "invoice_date": None if r["invoiced_ago"] is None else days_ago(r["invoiced_ago"]),
                    "expected_close": None if r["expected_in"] is None else days_ago(-r["expected_in"]),
                }
                for i, r in enumerate(rows)
            ]
        )
    )


many_deals = st.lists(deal_rows, min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=many_deals)
def test_property_every_deal_appears_once_and_open_deals_are_forecast(rows):
    frame = frame_from(rows)
    p = predict_frame(frame, AS_OF, SEED_PROFILE)
    assert p["deal_id"].tolist() == frame["deal_id"].tolist()
    open_rows = (frame["status"].fillna("open") == "open").to_numpy()
    assert set(p.loc[open_rows, "kind"]) <= {"forecast", "received"}


@settings(max_examples=60, deadline=None)
@given(rows=many_deals)
def test_property_payment_after_invoice_and_not_before_as_of(rows):
    p = predict_frame(frame_from(rows), AS_OF, SEED_PROFILE)
    f = p[p["kind"] == "forecast"]
    assert (f["predicted_payment_date"] >= f["predicted_invoice_date"]).all()
    assert (f["predicted_payment_date"] >= pd.Timestamp(AS_OF)).all()
    assert (f["payment_p10"] <= f["predicted_payment_date"]).all()
    assert (f["predicted_payment_date"] <= f["payment_p90"]).all()


@settings(max_examples=60, deadline=None)
@given(rows=many_deals)
def test_property_rules_confidence_within_bounds_and_two_decimals(rows):
    p = predict_frame(frame_from(rows), AS_OF, SEED_PROFILE)
    conf = p.loc[p["kind"] != "not_forecast", "confidence"].to_numpy()
    assert ((conf >= 0.30) & (conf <= 0.95)).all()
    assert np.allclose(conf, np.round(conf, 2), atol=0, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    rows=many_deals,
    horizon=st.integers(1, 400),
    threshold=st.floats(0, 1),
    pipeline=st.sampled_from([None, "Projects"]),
    owner=st.sampled_from([None, "Omar"]),
)
def test_property_totals_reconcile_and_week_equals_month(rows, horizon, threshold, pipeline, owner):
    p = predict_frame(frame_from(rows), AS_OF, SEED_PROFILE)
    kwargs = {
        "as_of": AS_OF,
        "horizon_days": horizon,
        "min_confidence": threshold,
        "pipeline": pipeline,
        "owner": owner,
    }
    week = aggregate(p, granularity="week", **kwargs)
    month = aggregate(p, granularity="month", **kwargs)
    excluded = sum(v["value"] for v in week.excluded.values())
    assert week.totals["cash_in"] + excluded == pytest.approx(week.totals["forecast_value"], abs=0.05)
    assert week.totals["invoice_value"] + week.shown["already_invoiced"]["value"] == pytest.approx(
        week.totals["cash_in"], abs=0.05
    )
    for key in ("cash_in", "invoice_value", "cash_in_unweighted", "deal_count"):
        assert week.totals[key] == pytest.approx(month.totals[key], abs=0.05)
    counted = week.totals["deal_count"] + sum(v["count"] for v in week.excluded.values())
    assert counted == week.totals["forecast_deal_count"]


@settings(max_examples=40, deadline=None)
@given(rows=many_deals, chunk_rows=st.integers(1, 15), granularity=st.sampled_from(["week", "month"]))
def test_property_parallel_chunks_give_what_one_piece_gives(rows, chunk_rows, granularity):
    whole = predict_frame(frame_from(rows), AS_OF, SEED_PROFILE)
    one = aggregate(whole, as_of=AS_OF, horizon_days=120, granularity=granularity)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columns, "CHUNK_ROWS", chunk_rows)
        patch.setattr(columns.os, "cpu_count", lambda: 3)
        pieces = aggregate(whole, as_of=AS_OF, horizon_days=120, granularity=granularity)
    pd.testing.assert_frame_equal(pieces.periods, one.periods, atol=0.011)
    for name, counted in {**one.excluded, **one.shown}.items():
        assert {**pieces.excluded, **pieces.shown}[name] == pytest.approx(counted, abs=0.011), name
    assert pieces.totals == pytest.approx(one.totals, abs=0.011)
    assert pieces.included.tolist() == one.included.tolist()


def test_periods_are_dense_iso_weeks_from_monday():
    starts = period_starts(dt.date(2026, 1, 28), dt.date(2026, 3, 2), "week")
    assert starts[0] == dt.date(2026, 1, 26)
    assert all(b - a == dt.timedelta(days=7) for a, b in itertools.pairwise(starts))
    assert period_label(starts[0], "week") == "2026-W05"
    assert period_label(dt.date(2026, 12, 28), "week") == "2026-W53"
    assert period_label(dt.date(2026, 1, 1), "month") == "2026-01"
    assert period_starts(dt.date(2026, 11, 15), dt.date(2027, 2, 1), "month") == [
        dt.date(2026, 11, 1),
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
        dt.date(2027, 2, 1),
    ]


def test_aggregate_buckets_cash_and_invoices_and_counts_exclusions():
    p = predict_frame(
        deals(
            {"stage": "Awaiting GR"},  # invoice +7, cash +44
            {"stage": "Awaiting GR", "organization": "Aramco"},  # invoice +7, cash +14
            {"stage": "Lead In"},  # 0.50 confidence
            {"stage": "Order Received", "value_base": 500.0},  # cash +79: beyond 60 days
            {
                "stage": "Invoice Issued",
                "created_at": days_ago(90),
                "stage_changed_at": days_ago(60),
            },  # overdue
        ),
        AS_OF,
        SEED_PROFILE,
    )
    agg = aggregate(p, as_of=AS_OF, horizon_days=60, granularity="week", min_confidence=0.6)
    periods = agg.periods.set_index("period")
    assert len(periods) == 9 and periods.index[0] == "2026-W10"
    assert periods.loc["2026-W11", "invoice_value"] == 2000.0
    assert periods.loc["2026-W10", "cash_in"] == 1000.0  # the overdue invoice rolled in
    assert periods.loc["2026-W12", "cash_in"] == 1000.0
    assert periods.loc["2026-W16", "cash_in"] == 1000.0
    assert periods["cash_in"].sum() == 3000.0
    assert agg.excluded["below_confidence"] == {"count": 1, "value": 1000.0}
    assert agg.excluded["beyond_horizon"] == {"count": 1, "value": 500.0}
    assert agg.shown["overdue_rolled_in"] == {"count": 1, "value": 1000.0}
    assert agg.shown["already_invoiced"] == {"count": 1, "value": 1000.0}
    assert (agg.periods["cash_in_p10"] <= agg.periods["cash_in"]).all()
    assert (agg.periods["cash_in"] <= agg.periods["cash_in_p90"]).all()
    assert periods.loc["2026-W13", "cash_in"] == 0.0  # empty periods are zero, not missing


def test_aggregate_filters_by_pipeline_and_owner_and_counts_the_rest():
    p = predict_frame(
        deals(
            {"stage": "Awaiting GR", "pipeline": "Projects", "owner": "Sara"},
            {"stage": "Awaiting GR", "pipeline": "Sales", "owner": "Sara"},
            {"stage": "Awaiting GR", "pipeline": "Projects", "owner": "Omar"},
        ),
        AS_OF,
        SEED_PROFILE,
    )
    agg = aggregate(p, as_of=AS_OF, pipeline="Projects", owner="Sara")
    assert agg.totals["deal_count"] == 1
    assert agg.excluded["filtered_out"] == {"count": 2, "value": 2000.0}
