"""A run's aggregation inputs: made once, read by every re-aggregation, the same figures as a fresh one."""

from __future__ import annotations

import datetime as dt
import gc

import numpy as np
import pandas as pd
import pytest

from core.cashflow import SEED_PROFILE, predict_frame, sql
from core.cashflow.aggregate import aggregate
from core.cashflow.aggregation_inputs import AggregationInputs
from core.cashflow.checks import warning_conditions
from core.cashflow.models import ForecastOptions
from core.cashflow.run import PredictionRun
from tests.cashflow.helpers import AS_OF, days_ago, days_ahead, deals

#: Slider moves and filters a dashboard session might make, in order.
MOVES = [
    ForecastOptions(),
    ForecastOptions(horizon_days=30),
    ForecastOptions(horizon_days=365, min_confidence=0.0),
    ForecastOptions(horizon_days=120, min_confidence=0.8, granularity="month"),
    ForecastOptions(pipeline="Projects"),
    ForecastOptions(owner=["Omar", "Nobody"], granularity="month"),
    ForecastOptions(pipeline="Nowhere"),
]


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """Deals of every kind and flag the aggregation tells apart, some alike, some missing dates."""
    rows = [
        *({"stage": "Awaiting GR", "pipeline": "Projects", "owner": "Sara"} for _ in range(6)),
        *({"stage": "Proposal Sent", "pipeline": "Sales", "owner": "Omar", "value": 500.0 + i,
           "value_base": 500.0 + i} for i in range(5)),
        {"stage": "Negotiation", "pipeline": "Sales", "owner": "Omar", "expected_close": days_ahead(200)},
        {"stage": "Invoice Issued", "invoice_date": days_ago(40), "pipeline": "Projects", "owner": "Sara"},
        {"stage": "Payment Received", "status": "won", "pipeline": "Projects", "owner": "Sara"},
        {"stage": "Lead In", "status": "lost", "pipeline": "Sales", "owner": "Omar"},
        {"stage": "Awaiting GR", "currency": "XYZ", "pipeline": "Projects", "owner": "Omar"},
        {"stage": "Awaiting GR", "value": None, "value_base": None, "pipeline": "Sales", "owner": None},
        {"stage": "Unknown stage", "pipeline": None, "owner": "Sara"},
    ]
    frame = predict_frame(deals(*rows), AS_OF, SEED_PROFILE)
    frame.loc[2, "predicted_payment_date"] = pd.NaT
    frame.loc[3, "confidence"] = np.nan
    return frame


def run_of(frame: pd.DataFrame) -> PredictionRun:
    return PredictionRun(run_id="test", snapshot_id=None, as_of=AS_OF, engine="rules",
                         assumptions=SEED_PROFILE, predictions=frame, generated_at=dt.datetime(2026, 3, 2))


def assert_same(kept, fresh) -> None:
    pd.testing.assert_frame_equal(kept.periods, fresh.periods, check_exact=True)
    assert (kept.totals, kept.excluded, kept.shown, kept.receivables, kept.warnings) == (
        fresh.totals, fresh.excluded, fresh.shown, fresh.receivables, fresh.warnings)
    np.testing.assert_array_equal(kept.included, fresh.included)


def test_slider_moves_read_the_runs_inputs_and_never_the_frame_again(
    predictions, registered_frames, monkeypatch
):
    """Each move of a run's dashboard aggregates its kept inputs: no frame is handed to DuckDB
    after the first aggregation, and the figures (included deals too) are a fresh aggregation's."""
    run = run_of(predictions)
    run.aggregate(MOVES[0])
    assert registered_frames  # the first aggregation read the frame
    registered_frames.clear()
    kept = [run.aggregate(options) for options in MOVES]
    for agg in kept:
        _ = agg.included
    assert registered_frames == []
    monkeypatch.undo()
    for options, agg in zip(MOVES, kept, strict=True):
        assert_same(agg, aggregate(predictions, as_of=AS_OF, **options.model_dump()))


def test_a_runs_warnings_counted_with_its_inputs_equal_a_fresh_count(predictions):
    run = run_of(predictions)
    checks = warning_conditions(AS_OF, SEED_PROFILE)
    for options in MOVES[:3]:
        agg = run.aggregate(options, warnings=True)
        assert agg.warnings  # the data fails some checks
        assert_same(agg, aggregate(predictions, as_of=AS_OF, checks=checks, **options.model_dump()))
        assert run.aggregate(options).warnings == []


def test_deals_alike_are_one_group_of_the_inputs(predictions):
    """Deals that differ only in value are one row of the inputs, which is why a move is cheap:
    the five proposals, and four of the six deals awaiting GR (two lost a date or a confidence)."""
    inputs = AggregationInputs(predictions)
    sizes = [deals for (deals,) in inputs.rows(f"SELECT deals FROM {inputs.table} ORDER BY deals DESC")]
    assert sizes[:2] == [5, 4]
    assert sum(sizes) == len(predictions)


def test_inputs_given_checks_twice_is_an_error(predictions):
    with pytest.raises(ValueError, match="checks"):
        aggregate(AggregationInputs(predictions), as_of=AS_OF, checks=warning_conditions(AS_OF, SEED_PROFILE))


def test_the_inputs_table_goes_with_the_inputs(predictions):
    inputs = AggregationInputs(predictions)
    table = inputs.table

    def tables() -> set[str]:
        with sql.frames() as con:
            return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    assert table in tables()
    del inputs
    gc.collect()
    assert table not in tables()
