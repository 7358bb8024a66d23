"""generate_history: weekly exports of the same deals that evolve the way real deals do."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.deals import DATE_COLUMNS, DEAL_COLUMNS
from core.errors import InputError
from core.sample import (
    DEFAULT_STAGE_DAYS,
    EXPORT_HEADERS,
    SAMPLE_RATES,
    STAGES,
    expected_days_to_invoice,
    generate_history,
)
from core.sample import catalog as cat
from core.sample.export import BAD_CELLS, CANONICAL
from core.sample.simulate import simulate

STAGE_ORDER = {stage: i for i, stage in enumerate(STAGES)}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIMESTAMP_HEADERS = ("Deal - Deal created", "Deal - Update time", "Deal - Last stage change",
                     "Deal - Won time", "Deal - Lost time", "Deal - Deal closed on")
DATE_HEADERS = ("Deal - Expected close date", "Deal - Next activity date", "Deal - Last activity date",
                "Deal - Invoice date", "Deal - Payment date")


@pytest.fixture(scope="module")
def history():
    return generate_history()


def assert_history_invariants(history, deals: int) -> None:
    """What must hold for any generated history, whatever its arguments."""
    previous = None
    for snapshot in history:
        truth, export, as_of = snapshot.truth, snapshot.export, pd.Timestamp(snapshot.as_of)
        assert list(export.columns) == list(EXPORT_HEADERS)
        assert list(truth.columns) == list(DEAL_COLUMNS)
        assert len(truth) == len(export)
        assert truth["deal_id"].is_unique
        assert (truth["deal_id"] == export["Deal - ID"]).all()
        for header in TIMESTAMP_HEADERS:
            assert export[header].map(lambda s: s == "" or bool(TIMESTAMP.fullmatch(s))).all(), header
        for header in DATE_HEADERS:
            bad = set(export[header]) - {text for _, text in BAD_CELLS}
            assert all(s == "" or DATE.fullmatch(s) for s in bad), header

        # dates in order, nothing after the as-of day
        for column in ("created_at", "updated_at", "stage_changed_at", "won_at", "lost_at", "closed_at"):
            assert (truth[column].dropna() <= as_of).all(), column
        moved = truth["stage_changed_at"].notna()
        assert (truth.loc[moved, "stage_changed_at"] >= truth.loc[moved, "created_at"]).all()
        for column in ("stage_changed_at", "won_at", "lost_at"):
            has = truth[column].notna()
            assert (truth.loc[has, "updated_at"] >= truth.loc[has, column]).all(), column

        # status, stage, pipeline and the close dates agree
        won, lost = truth["status"] == "won", truth["status"] == "lost"
        assert set(truth["status"]) <= {"open", "won", "lost"}
        assert truth.loc[won, "won_at"].notna().all() and truth.loc[~won, "won_at"].isna().all()
        assert truth.loc[lost, "lost_at"].notna().all() and truth.loc[~lost, "lost_at"].isna().all()
        assert truth["closed_at"].equals(truth["won_at"].fillna(truth["lost_at"]))
        assert (won == truth["stage"].isin(["Invoice Issued", "Payment Received"])).all()
        assert (truth["pipeline"] == truth["stage"].map(cat.PIPELINE_OF_STAGE)).all()
        assert (truth.loc[truth["invoice_date"].notna(), "status"] == "won").all()
        assert (truth["invoice_date"].dropna() <= truth["won_at"][truth["invoice_date"].notna()]).all()
        assert (truth.loc[truth["payment_date"].notna(), "stage"] == "Payment Received").all()
        assert truth["probability"].dropna().between(0, 1).all()
        assert set(truth["currency"]) <= set(SAMPLE_RATES)

        if previous is not None:
            _assert_moves_forward(previous, snapshot)
        previous = snapshot
    assert len(history[-1].truth) == deals


def _assert_moves_forward(before, after) -> None:
    """Same deals stay (new ones only added), facts never change, stages and statuses only
    move forward except rework (Awaiting MDD back to Under Progress)."""
    old, new = before.truth.set_index("deal_id"), after.truth.set_index("deal_id")
    assert set(old.index) <= set(new.index)
    new = new.loc[old.index]
    for column in ("title", "owner", "organization", "contact", "currency", "created_at", "expected_close"):
        assert old[column].equals(new[column]), column
    old_rank, new_rank = old["stage"].map(STAGE_ORDER), new["stage"].map(STAGE_ORDER)
    backwards = old_rank > new_rank
    assert (old.loc[backwards, "stage"] == "Awaiting MDD").all()
    assert (new.loc[backwards, "stage"] == "Under Progress").all()
    moved = old["stage"] != new["stage"]
    assert (new.loc[moved, "stage_changed_at"] > pd.Timestamp(before.as_of)).all()
    assert (new.loc[old["status"] != "open", "status"] == old.loc[old["status"] != "open", "status"]).all()
    assert (old.loc[old["status"] == "lost", "stage"] == new.loc[old["status"] == "lost", "stage"]).all()


def test_generate_history_default_history_keeps_every_invariant(history):
    assert [s.as_of for s in history] == [dt.date(2026, 9, 7) + dt.timedelta(weeks=k) for k in range(8)]
    assert_history_invariants(history, deals=300)


@settings(max_examples=30, deadline=None)
@given(
    deals=st.integers(1, 60),
    snapshots=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
    interval_days=st.integers(1, 14),
    scale=st.floats(0.2, 4.0),
    messy=st.floats(0.0, 0.5),
)
def test_generate_history_any_arguments_keep_every_invariant(
    deals, snapshots, seed, interval_days, scale, messy
):
    history = generate_history(deals=deals, snapshots=snapshots, seed=seed, interval_days=interval_days,
                               stage_days_scale=scale, messy=messy)
    assert len(history) == snapshots
    assert_history_invariants(history, deals=deals)


def test_generate_history_snapshot_before_any_deal_exists_is_an_empty_export():
    first, second = generate_history(deals=1, snapshots=2, seed=106, interval_days=3)
    assert first.export.empty and list(first.export.columns) == list(EXPORT_HEADERS)
    assert first.truth.empty and first.expected_rejects.empty
    assert len(second.export) == 1


def test_generate_history_first_snapshot_already_holds_closed_and_invoiced_deals(history):
    first = history[0].truth
    assert (first["status"] != "open").mean() > 0.4
    assert (first["stage"] == "Payment Received").sum() > 20
    assert first["invoice_date"].notna().sum() > 10
    assert first["payment_date"].notna().sum() > 5
    assert (pd.Timestamp(history[0].as_of) - first["created_at"]).dt.days.max() > 90


def test_generate_history_new_deals_appear_and_open_deals_move_every_week(history):
    for before, after in itertools.pairwise(history):
        assert len(after.truth) > len(before.truth)
        old = before.truth.set_index("deal_id")
        new = after.truth.set_index("deal_id").loc[old.index]
        assert ((old["stage"] != new["stage"]) | (old["status"] != new["status"])).sum() >= 5


def test_generate_history_looks_like_a_real_company(history):
    truth = pd.concat([s.truth for s in history])
    assert set(truth["stage"]) == set(STAGES)
    assert set(truth["pipeline"]) == {"Sales", "Projects"}
    assert truth["owner"].nunique() >= 4
    assert truth["organization"].str.contains("aramco", case=False).sum() > 0
    assert {"Saudi Aramco", "Aramco Services Company"} <= set(truth["organization"].dropna())
    shares = history[-1].truth["currency"].value_counts(normalize=True)
    assert set(shares.index) == {"SAR", "USD", "AED", "EUR"} and shares["SAR"] > 0.6
    assert truth["notes"].notna().mean() > 0.5
    assert truth["probability"].notna().mean() < 0.5  # often empty, as in real exports
    assert truth["stage_changed_at"].isna().any()  # never moved: Pipedrive leaves it blank


def test_generate_history_truth_says_what_the_export_says(history):
    for snapshot in history:
        export, truth = snapshot.export, snapshot.truth
        readable = ~truth.index.isin(snapshot.expected_rejects["position"])
        for header, column in CANONICAL.items():
            cells = export.loc[readable, header].str.strip()
            expected = truth.loc[readable, column]
            if column in DATE_COLUMNS:
                dates = expected.dt.strftime("%Y-%m-%d").fillna("")
                assert (cells.str[:10] == dates).all(), header
            elif column == "value":
                numbers = pd.to_numeric(cells.str.replace(r"^[A-Z]{3} |,", "", regex=True).replace("", None))
                assert np.allclose(numbers, expected, equal_nan=True)
            elif column == "probability":
                assert np.allclose(pd.to_numeric(cells.replace("", None)) / 100, expected, equal_nan=True)
            elif column == "status":
                assert (cells.str.lower() == expected).all()
            else:
                assert (cells.replace("", None).fillna("<blank>") == expected.fillna("<blank>")).all(), header
        rates = truth["currency"].map(SAMPLE_RATES).astype(float)
        assert np.allclose(truth["value_base"], truth["value"] * rates, equal_nan=True)


def test_generate_history_messy_rows_stay_readable_and_bad_ones_are_listed():
    history = generate_history(deals=400, snapshots=2, messy=0.3)
    for snapshot in history:
        export, rejects = snapshot.export, snapshot.expected_rejects
        values = export["Deal - Value"]
        status, title = export["Deal - Status"], export["Deal - Title"]
        messy = ~values.str.fullmatch(r"\d+") | (status != status.str.title()) | (title != title.str.strip())
        assert 0.15 < messy.mean() < 0.4
        assert values.str.contains(",").any() and values.str.match(r"[A-Z]{3} ").any()
        assert (values == "").any()
        assert len(rejects) == round(len(export) * 0.3 / 10)
        for row in rejects.itertuples():
            assert export.loc[row.position, row.column] == row.value
            assert export.loc[row.position, "Deal - ID"] == row.deal_id
        assert len(snapshot.loadable_truth()) == len(export) - len(rejects)


def test_generate_history_without_mess_has_clean_values_and_no_rejects():
    for snapshot in generate_history(deals=200, snapshots=2, messy=0):
        assert snapshot.expected_rejects.empty
        assert snapshot.export["Deal - Value"].str.fullmatch(r"\d+").all()
        assert snapshot.export["Deal - Status"].isin(["Open", "Won", "Lost"]).all()


def test_generate_history_shipped_arguments_reject_exactly_one_row_per_file(history):
    assert [len(s.expected_rejects) for s in history] == [1] * 8
    assert {row for s in history for row in s.expected_rejects["value"]} == {"TBD", "ASAP"}


def _days_in_stage(history, stage: str) -> float:
    """Median days the open deals at ``stage`` have spent there, over every snapshot."""
    days = []
    for snapshot in history:
        truth = snapshot.truth
        at = truth[(truth["stage"] == stage) & (truth["status"] == "open")]
        since = at["stage_changed_at"].fillna(at["created_at"])
        days.extend((pd.Timestamp(snapshot.as_of) - since).dt.days)
    return float(np.median(days))


def test_generate_history_stage_days_override_lengthens_that_stage():
    default = generate_history(deals=600, snapshots=4)
    slow = generate_history(deals=600, snapshots=4, stage_days={"Order Received": 40.0})
    assert _days_in_stage(slow, "Order Received") > 2 * _days_in_stage(default, "Order Received")
    assert _days_in_stage(slow, "Awaiting GR") == pytest.approx(_days_in_stage(default, "Awaiting GR"), abs=2)


def test_generate_history_stage_days_scale_lengthens_time_to_invoice():
    def median_days_to_invoice(history) -> float:
        won = history[-1].truth.dropna(subset=["won_at"])
        return float((won["won_at"] - won["created_at"]).dt.days.median())

    default = generate_history(deals=600, snapshots=2)
    slow = generate_history(deals=600, snapshots=2, stage_days_scale=2.0)
    assert median_days_to_invoice(slow) > 1.5 * median_days_to_invoice(default)


def test_expected_days_to_invoice_reproduces_the_seed_table():
    realistic = {
        "Order Received": 42, "Approved": 29, "Awaiting Payment": 27, "Awaiting Site Readiness": 22,
        "Everything Ready (but not started)": 17, "Awaiting MDD": 12, "Awaiting GCC": 10, "Awaiting GR": 7,
    }
    expected = expected_days_to_invoice()
    for stage, days in realistic.items():
        assert expected[stage] == pytest.approx(days, abs=0.5), stage
    assert expected["Under Progress"] == pytest.approx(15.1, abs=0.1)  # the table's 12 cannot be met


def test_simulate_mean_time_to_invoice_matches_expected_days():
    stage_days = {**DEFAULT_STAGE_DAYS, "Under Progress": 20.0}
    timeline = simulate(deals=6000, seed=3, history_start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 1),
                        stage_days=stage_days)
    events, deals = timeline.stage_events, timeline.deals
    first = events.groupby("deal").first()
    direct = first.index[first["stage"] == STAGE_ORDER["Order Received"]]
    days = (deals["won_t"] - deals["created"]).iloc[direct].dropna()
    assert days.mean() == pytest.approx(expected_days_to_invoice(stage_days)["Order Received"], rel=0.05)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"deals": 0}, "deals must be at least 1"),
        ({"snapshots": 0}, "snapshots must be at least 1"),
        ({"interval_days": 0}, "interval_days must be at least 1"),
        ({"messy": 0.7}, "messy must be between 0 and 0.5"),
        ({"stage_days_scale": 0.0}, "stage_days_scale must be a positive number"),
        ({"stage_days": {"Closing": 3.0}}, "unknown stage 'Closing'"),
        ({"stage_days": {"Approved": -1.0}}, "must be a positive number of days"),
    ],
)
def test_generate_history_rejects_arguments_out_of_range(arguments, message):
    with pytest.raises(InputError, match=message):
        generate_history(**arguments)
