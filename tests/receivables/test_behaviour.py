"""Payment behaviour: recovered from generated histories, matched to organizations, no look-ahead."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow.behaviour import learn_behaviour, organization_key
from core.cashflow.payment_backtest import backtest_payments
from core.sample.invoices import generate_invoices
from tests.receivables.helpers import AS_OF, invoices, paid_history

#: Tolerances the model must meet for customers with at least 100 undisputed paid invoices:
#: medians within 1 day; P10 and P90 within half the customer's spread (its standard deviation
#: of days late), at least 1 day; the share paid late within 0.1 of the history's own.
MEDIAN_TOLERANCE, SHARE_TOLERANCE = 1.0, 0.1

HISTORY = generate_invoices(invoices=4000, seed=11)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Saudi Aramco Co., Ltd.", "saudi aramco"),
        ("SAUDI  ARAMCO", "saudi aramco"),
        ("SABIC Ltd", "sabic"),
        ("Al-Futtaim W.L.L.", "al futtaim"),
        ("Acme L.L.C.", "acme"),
        ("Schneider Electric GmbH", "schneider electric"),
        ("Société Générale S.A.", "societe generale"),
        ("Nesma & Partners", "nesma and partners"),
        ("The Company", "company"),
        ("stc", "stc"),
        (None, ""),
    ],
)
def test_organization_key_ignores_case_punctuation_and_legal_suffixes(name, key):
    assert organization_key(name) == key


def test_model_recovers_each_customers_known_behaviour():
    model = learn_behaviour(HISTORY.truth, HISTORY.as_of)
    checked = 0
    for profile in HISTORY.customers:
        row = model.customers.loc[organization_key(profile.name)]
        if row["undisputed"] < 100:
            continue
        checked += 1
        assert row["source"] == "learned"
        assert row["median_days_late"] == pytest.approx(profile.median_days_late, abs=MEDIAN_TOLERANCE)
        assert row["median_days_to_pay"] == pytest.approx(
            profile.terms_days + profile.median_days_late, abs=MEDIAN_TOLERANCE
        )
        band = max(profile.spread_days / 2, 1.0)
        assert row["p10_days_late"] == pytest.approx(profile.p10_days_late, abs=band)
        assert row["p90_days_late"] == pytest.approx(profile.p90_days_late, abs=band)
        late = HISTORY.truth["customer"] == profile.name
        truth_share = float(
            (
                (HISTORY.truth.loc[late & ~HISTORY.truth["disputed"], "paid_date"])
                > (HISTORY.truth.loc[late & ~HISTORY.truth["disputed"], "due_date"])
            ).mean()
        )
        assert row["share_late"] == pytest.approx(truth_share, abs=SHARE_TOLERANCE)
    assert checked >= 8


def test_dispute_effect_is_recovered_for_customers_that_dispute_often():
    slow = next(c for c in HISTORY.customers if c.name == "Halliburton LLC")
    row = learn_behaviour(HISTORY.truth, HISTORY.as_of).customers.loc[organization_key(slow.name)]
    assert row["disputed"] >= 3
    assert row["dispute_effect_days"] == pytest.approx(slow.dispute_extra_days, abs=4)


def test_a_customer_below_the_minimum_sample_falls_back_to_all_customers():
    frame = invoices(
        *paid_history("Fast Co", [-5] * 6, start=dt.date(2025, 9, 1)),
        *paid_history("Slow Co", [20, 20], start=dt.date(2025, 9, 1)),
    )
    model = learn_behaviour(frame, AS_OF, min_samples=5)
    assert model.customers.loc["fast", "source"] == "learned"
    assert model.customers.loc["slow", "source"] == "fallback"
    table = model.table().set_index("customer")
    assert table.loc["Slow Co", "median_days_late"] == model.overall.median_days_late
    assert table.loc["Fast Co", "median_days_late"] == -5
    unknown = model.table("Nobody Inc")
    assert unknown.iloc[0]["median_days_late"] == model.overall.median_days_late
    assert (unknown.iloc[0]["invoices"], unknown.iloc[0]["source"]) == (0, "fallback")


def test_credit_notes_and_payments_before_the_invoice_teach_nothing():
    frame = invoices(
        *paid_history("Acme", [0] * 5, start=dt.date(2025, 9, 1)),
        {
            "invoice_id": "CN",
            "customer": "Acme",
            "amount": -100.0,
            "invoice_date": dt.date(2025, 12, 1),
            "paid_date": dt.date(2026, 2, 1),
        },
        {
            "invoice_id": "BAD",
            "customer": "Acme",
            "invoice_date": dt.date(2025, 12, 1),
            "paid_date": dt.date(2025, 11, 1),
        },
    )
    row = learn_behaviour(frame, AS_OF).customers.loc["acme"]
    assert (row["invoices"], row["median_days_late"]) == (5, 0)


def _moved_after(frame: pd.DataFrame, as_of: dt.date, shifts: np.ndarray) -> pd.DataFrame:
    """``frame`` with every paid date after ``as_of`` moved by ``shifts`` days (kept after as-of)."""
    out = frame.copy()
    paid = out["paid_date"].to_numpy(dtype="datetime64[D]")
    later = paid > np.datetime64(as_of, "D")
    moved = paid + shifts[: len(paid)].astype("timedelta64[D]")
    floor = np.datetime64(as_of, "D") + np.timedelta64(1, "D")
    out["paid_date"] = np.where(later, np.maximum(moved, floor), paid).astype("datetime64[s]")
    return out


@settings(max_examples=50, deadline=None)
@given(
    as_of_day=st.integers(30, 330),
    shifts=st.lists(st.integers(-200, 200), min_size=600, max_size=600),
    blank=st.booleans(),
)
def test_property_moving_paid_dates_after_the_as_of_date_cannot_change_the_learned_model(
    as_of_day, shifts, blank
):
    history = generate_invoices(invoices=600, seed=3)
    as_of = history.as_of - dt.timedelta(days=360) + dt.timedelta(days=as_of_day)
    changed = _moved_after(history.truth, as_of, np.asarray(shifts))
    if blank:  # not paid at all yet, as the export on a later day might show it
        later = changed["paid_date"].to_numpy(dtype="datetime64[D]") > np.datetime64(as_of, "D")
        changed.loc[later[: len(changed)], "paid_date"] = pd.NaT
    before, after = learn_behaviour(history.truth, as_of), learn_behaviour(changed, as_of)
    pd.testing.assert_frame_equal(before.customers, after.customers)
    assert before.overall == after.overall
    b1, b2 = backtest_payments(history.truth, as_of), backtest_payments(changed, as_of)
    assert (b1.invoices_learned, b1.customers_learned) == (b2.invoices_learned, b2.customers_learned)


def test_backtest_learned_behaviour_beats_fixed_terms_and_due_date_on_generated_data():
    result = backtest_payments(HISTORY.truth, dt.date(2026, 6, 30))
    assert result.invoices_evaluated > 500
    assert result.mae_days < result.mae_days_due_date < result.mae_days_fixed_terms
    assert result.mae_days < 4
    assert abs(result.bias_days) < 1
    assert 0.7 <= result.band_coverage <= 0.95
