"""Aggregation (DESIGN 5.4) and the invariants every forecast keeps, as properties."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow import SEED_PROFILE, predict_frame
from core.cashflow.aggregate import aggregate, period_label, period_starts
from core.cashflow.checks import run_warnings
from core.cashflow.fields import DATE_OUTPUT_COLUMNS
from core.cashflow.scope import scope_choices, scope_warnings
from core.deals import conform
from tests.cashflow.helpers import AS_OF, days_ago, deals

ROOT = Path(__file__).resolve().parents[2]
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


def as_relation(frame: pd.DataFrame) -> duckdb.DuckDBPyRelation:
    """The predictions as a table of their own, as the rules engine's relation gives them: kind
    and names as text, dates as DATE."""
    con = duckdb.connect()
    con.register("frame", frame)
    dates = ", ".join(f"CAST({name} AS DATE) AS {name}" for name in DATE_OUTPUT_COLUMNS)
    con.execute(
        "CREATE TABLE predictions AS SELECT kind::VARCHAR AS kind, pipeline::VARCHAR AS pipeline, "
        f"owner::VARCHAR AS owner, flag_bits, weighted_value, value_base, confidence, {dates} FROM frame"
    )
    con.unregister("frame")
    return con.table("predictions")


@settings(max_examples=12, deadline=None)
@given(
    rows=many_deals,
    granularity=st.sampled_from(["week", "month"]),
    pipeline=st.sampled_from([None, "Projects", "Nowhere"]),
    owner=st.sampled_from([None, "Omar"]),
)
def test_property_a_relation_aggregates_as_its_frame(rows, granularity, pipeline, owner):
    frame = predict_frame(frame_from(rows), AS_OF, SEED_PROFILE)
    relation = as_relation(frame)
    options = {"as_of": AS_OF, "horizon_days": 120, "granularity": granularity, "pipeline": pipeline,
               "owner": owner}
    one, other = aggregate(frame, **options), aggregate(relation, **options)
    pd.testing.assert_frame_equal(other.periods, one.periods, atol=0.011)
    assert other.totals == pytest.approx(one.totals, abs=0.011)
    for name in ("excluded", "shown", "receivables"):
        for key, amount in getattr(one, name).items():
            assert getattr(other, name)[key] == pytest.approx(amount, abs=0.011), (name, key)
    assert scope_warnings(relation, pipeline, owner) == scope_warnings(frame, pipeline, owner)
    assert scope_choices(relation) == scope_choices(frame)
    assert run_warnings(relation, AS_OF, SEED_PROFILE) == run_warnings(frame, AS_OF, SEED_PROFILE)
    with pytest.raises(TypeError, match="relation"):
        _ = other.included
    assert one.included.sum() == one.totals["deal_count"]


def test_sums_do_not_depend_on_the_order_of_the_deals():
    """Exact sums: these three add up to 1119.505 exactly, which floating-point addition puts
    above or below the half cent depending on the order; the cents must not depend on it."""
    p = predict_frame(deals(*({"stage": "Awaiting GR"} for _ in range(3))), AS_OF, SEED_PROFILE)
    p["weighted_value"] = [105.921, 633.16, 380.424]
    one, other = (aggregate(frame, as_of=AS_OF, horizon_days=60, min_confidence=0)
                  for frame in (p, p.iloc[[2, 1, 0]].reset_index(drop=True)))
    pd.testing.assert_frame_equal(other.periods, one.periods, check_exact=True)
    assert (other.totals, other.excluded, other.shown) == (one.totals, one.excluded, one.shown)


def test_missing_dates_and_numbers_land_where_they_did():
    """A missing payment date is inside the horizon (counted, in no period); a missing invoice
    date was not invoiced before as-of; a missing confidence is below any threshold; a
    missing weighted value counts as zero."""
    p = predict_frame(deals(*({"stage": "Awaiting GR"} for _ in range(4))), AS_OF, SEED_PROFILE)
    p.loc[0, "predicted_payment_date"] = pd.NaT
    p.loc[1, "predicted_invoice_date"] = pd.NaT
    p.loc[2, "confidence"] = np.nan
    p.loc[3, "weighted_value"] = np.nan
    for predictions in (p, as_relation(p)):
        agg = aggregate(predictions, as_of=AS_OF, horizon_days=60, min_confidence=0.0)
        assert agg.totals["deal_count"] == 3
        assert agg.excluded["below_confidence"] == {"count": 1, "value": 1000.0}
        assert agg.shown["already_invoiced"]["count"] == 0
        assert sum(agg.period_columns["deal_count"]) == 2  # the deal without a payment date is in none
        assert agg.totals["cash_in"] == 1000.0  # the deal without a weighted value adds nothing
        assert agg.totals["invoice_value"] == 1000.0  # the deal without an invoice date is in no period
        assert agg.totals["forecast_value"] == 3000.0


def test_periods_are_plain_columns_and_the_frame_is_made_when_asked():
    p = predict_frame(deals({"stage": "Awaiting GR"}), AS_OF, SEED_PROFILE)
    agg = aggregate(p, as_of=AS_OF, horizon_days=60)
    assert "periods" not in vars(agg)  # nothing made yet
    assert agg.periods["period"].tolist() == agg.period_columns["period"]
    assert agg.periods["deal_count"].sum() == 1


def test_a_relation_is_aggregated_without_pandas_or_pyarrow():
    """The command line aggregates the rules engine's relation: no frame library loads for it."""
    code = """if True:
        import sys, datetime as dt, duckdb
        from core.cashflow.aggregate import aggregate
        relation = duckdb.sql(
            "SELECT 'forecast' AS kind, 0::BIGINT AS flag_bits, 500.0 AS weighted_value, "
            "1000.0 AS value_base, 0.5 AS confidence, DATE '2026-03-09' AS predicted_invoice_date, "
            "DATE '2026-04-08' AS predicted_payment_date, DATE '2026-04-01' AS payment_p10, "
            "DATE '2026-04-20' AS payment_p90")
        agg = aggregate(relation, as_of=dt.date(2026, 3, 2), horizon_days=60)
        print(agg.totals["cash_in"], sum(agg.period_columns["deal_count"]),
              sorted({"pandas", "pyarrow"} & set(sys.modules)))
    """
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert found.stdout.split() == ["500.0", "1", "[]"]


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
