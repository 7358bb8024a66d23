"""Building blocks of the prediction frame: its one schema, integer factorizing."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core.cashflow.columns import factorize_ints
from core.cashflow.fields import (
    NOT_STORED,
    PREDICTION_COLUMNS,
    PREDICTION_FIELDS,
    REFINED_FIELDS,
    STORED_FIELDS,
)
from core.cashflow.models import DealPrediction


def test_deal_prediction_has_the_prediction_fields_in_their_order():
    assert list(DealPrediction.model_fields) == [*PREDICTION_FIELDS, "warnings"]
    assert set(REFINED_FIELDS) <= set(PREDICTION_FIELDS) <= set(PREDICTION_COLUMNS)
    assert set(NOT_STORED) <= set(PREDICTION_FIELDS)


def test_the_predictions_table_stores_the_stored_fields_with_their_types(store):
    """The migrations' literal DDL and the live map agree (a new field needs a migration)."""
    described = store.query_df("DESCRIBE predictions")
    types = dict(zip(described["column_name"], described["column_type"], strict=True))
    run = {"snapshot_id": "INTEGER", "run_id": "VARCHAR", "engine": "VARCHAR", "created_at": "TIMESTAMP"}
    assert types == {**run, **{name: PREDICTION_FIELDS[name] for name in STORED_FIELDS}}


@given(st.lists(st.one_of(st.integers(0, 50), st.integers(-(2**62), 2**62)), max_size=60))
def test_factorize_ints_codes_give_back_every_key_from_distinct_values(keys):
    codes, uniques = factorize_ints(np.array(keys, dtype=np.int64))
    assert np.asarray(uniques)[codes].tolist() == keys
    assert len(set(np.asarray(uniques).tolist())) == len(uniques) == len(set(keys))


def test_factorize_ints_uses_a_table_for_a_small_range_and_a_hash_beyond():
    small = np.array([5, 3, 5, 0])
    codes, uniques = factorize_ints(small)
    assert uniques.tolist() == [0, 3, 5]  # the table gives them sorted
    assert codes.tolist() == [2, 1, 2, 0]
    wide = np.array([2**40, 7, 2**40])
    codes, uniques = factorize_ints(wide)
    assert list(uniques) == [2**40, 7] and codes.tolist() == [0, 1, 0]
