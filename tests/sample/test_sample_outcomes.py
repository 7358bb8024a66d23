"""The single-export generator with a known truth: shape, determinism, and what the truth says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.ingest import ingest_file
from core.sample.outcomes import generate_outcome_case
from core.store import Store


@pytest.fixture(scope="module")
def case():
    return generate_outcome_case(deals=4000, seed=3)


def test_same_arguments_same_exports_and_truth(case):
    again = generate_outcome_case(deals=4000, seed=3)
    assert again.export.equals(case.export) and again.later.equals(case.later)
    assert again.outcomes.equals(case.outcomes)
    assert not generate_outcome_case(deals=4000, seed=4).export.equals(case.export)


def test_one_export_holds_open_and_closed_deals_without_probability_or_invoice_columns(case):
    headers = set(case.export.columns)
    assert not any(word in h.lower() for h in headers for word in ("probability", "invoice", "payment"))
    assert {"Deal - Deal created", "Deal - Won time", "Deal - Lost time"} <= headers
    status = case.export["Deal - Status"].value_counts()
    assert status["Open"] > 100 and status["Won"] > 100 and status["Lost"] > 100
    won = case.export["Deal - Status"] == "Won"
    assert (case.export.loc[won, "Deal - Won time"] != "").all()
    assert (case.export.loc[~won, "Deal - Won time"] == "").all()


def test_exports_agree_with_the_truth_and_nothing_after_as_of_shows(case):
    truth = case.outcomes.set_index("deal_id")
    for deals, day in ((case.export_deals, case.as_of), (case.later_deals, case.later_as_of)):
        cut = np.datetime64(day, "D")
        assert (deals["created_at"].to_numpy().astype("datetime64[D]") <= cut).all()
        facts = truth.loc[deals["deal_id"].astype(str)]
        closed = facts["closed"].to_numpy() <= cut
        status = deals["status"].to_numpy(dtype=str)
        assert (status[closed] == np.where(facts["won"].to_numpy()[closed], "won", "lost")).all()
        assert (status[~closed] == "open").all()
    assert set(case.export_deals["deal_id"]) <= set(case.later_deals["deal_id"])


def test_win_chance_falls_with_age_and_durations_have_a_long_tail(case):
    truth = case.outcomes
    days = (truth["closed"] - truth["created"]).dt.days
    won_days = days[truth["won"]]
    assert won_days.quantile(0.95) > 3 * won_days.median()
    open_at = [0, 60, 180]
    chances = [truth.loc[days > a, "won"].mean() for a in open_at]
    assert chances[0] > chances[1] > chances[2]


def test_the_export_loads_as_a_pipedrive_file(case, tmp_path):
    path = tmp_path / "deals.csv"
    case.export.to_csv(path, index=False)
    with Store(":memory:") as store:
        result = ingest_file(store, path, source="pipedrive", as_of=case.as_of)
        assert result.rows_loaded == len(case.export) and result.rows_rejected == 0
        loaded = store.load_deals(result.snapshot_id).sort_values("deal_id", ignore_index=True)
    expected = case.export_deals.sort_values("deal_id", ignore_index=True)
    for column in ("status", "stage", "created_at", "won_at", "lost_at", "value"):
        pd.testing.assert_series_equal(loaded[column], expected[column], check_names=False)
    assert loaded["probability"].isna().all()


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="at least 1"):
        generate_outcome_case(deals=0)
