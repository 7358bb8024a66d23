"""The rules as SQL: the relation over a stored snapshot is the frame path, and SQL NULLs act as NaT did."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.cashflow import SEED_PROFILE, predict_frame
from core.cashflow.assumptions import PaymentRule, StuckRule
from core.cashflow.receivables import resolve_receivables
from core.cashflow.rules import apply_overrides, estimate_frame, predictions_relation
from tests.cashflow.helpers import AS_OF, days_ago, days_ahead, deals, save
from tests.receivables.helpers import invoices, paid_history, save_invoices

#: A profile with a pipeline rule, an organization rule and three stuck levels, so every lookup runs.
PROFILE = SEED_PROFILE.model_copy(
    update={
        "payment_rules": [
            PaymentRule(field="pipeline", pattern="^gov", days=60),
            PaymentRule(field="organization", pattern="sabic", days=20),
        ],
        "stuck": [
            StuckRule(over_days=d, add_days=d // 10, confidence_penalty=d / 1000) for d in (90, 45, 20)
        ],
    }
)
MIXED = deals(
    {"stage": "Approved", "organization": "SABIC Ltd", "pipeline": "Government"},
    {"stage": "Awaiting GR", "stage_changed_at": days_ago(70), "organization": "Acme"},
    {"stage": "Lead In", "expected_close": days_ahead(20), "organization": None},
    {"stage": "Invoice Issued", "stage_changed_at": None, "created_at": None, "organization": "SABIC Ltd"},
    {"stage": "Paid", "payment_date": days_ago(3), "currency": None, "value_base": None},
    {"stage": None, "status": " Lost", "value": None, "value_base": None},
    {"stage": "Approved", "currency": "XYZ", "value_base": None, "probability": 1.7, "status": "WON"},
    {"stage": "Approved", "created_at": days_ahead(3), "stage_changed_at": days_ago(40), "value": -5.0},
    {"stage": "Under Progress", "invoice_date": days_ago(50), "organization": "O'Brien & Sons"},
)


@pytest.fixture
def snapshot(store):
    """``MIXED`` stored as a snapshot, and invoices: SABIC Ltd pays 10 days late; deal 9's invoice is open."""
    snapshot_id = save(store, MIXED, AS_OF)
    frame = invoices(
        *paid_history("SABIC Ltd", [10] * 6, start=dt.date(2025, 9, 1)),
        {"invoice_id": "OPEN-1", "customer": "Acme", "invoice_date": days_ago(5), "deal_id": "9"},
    )
    save_invoices(store, frame, AS_OF)
    return snapshot_id


@pytest.mark.parametrize("with_receivables", [False, True])
def test_rules_relation_over_a_stored_snapshot_equals_the_frame_path(store, snapshot, with_receivables):
    receivables = (
        resolve_receivables(store, "latest", AS_OF, default_terms=37, min_samples=5)
        if with_receivables
        else None
    )
    cursor = store.cursor().cursor()  # a connection of its own, as a reader of the relation would use
    run = predictions_relation(
        cursor,
        "SELECT rowid AS _row, * FROM deals WHERE snapshot_id = ?",
        [snapshot],
        AS_OF,
        PROFILE,
        receivables,
    )
    expected = predict_frame(store.load_deals(snapshot), AS_OF, PROFILE, receivables)
    pd.testing.assert_frame_equal(run.to_frame(), expected)
    types = dict(zip(run.relation.columns, map(str, run.relation.types), strict=True))
    assert (types["kind"], types["method"], types["flag_bits"], types["invoice_p90"]) == (
        "VARCHAR",
        "VARCHAR",
        "BIGINT",
        "DATE",
    )
    if with_receivables:
        assert "in_receivables" in expected.loc[8, "flags"]
        assert expected.loc[0, "payment_terms_days"] == 40  # SABIC Ltd's own days, over its rule's 20


def test_rules_missing_dates_act_as_nat_did():
    frame = predict_frame(
        deals(
            {"stage": "Approved", "created_at": None, "stage_changed_at": None},
            {"stage": "Invoice Issued", "created_at": None, "stage_changed_at": None, "updated_at": None},
            {
                "stage": "Lead In",
                "expected_close": None,
                "created_at": None,
                "stage_changed_at": days_ago(90),
            },
        ),
        AS_OF,
        SEED_PROFILE,
    )
    fresh, invoiced, unknown = (frame.iloc[k] for k in range(3))
    # No dates: no time in stage, nothing contradicts, the stage table decides.
    assert (fresh.days_in_stage, fresh.confidence, fresh["flags"]) == (0, 0.70, "")
    assert fresh.predicted_invoice_date.date() == days_ahead(29)
    # An invoiced stage with no date at all is invoiced on the as-of date.
    assert invoiced.predicted_invoice_date.date() == AS_OF
    assert invoiced["flags"] == "invoiced,invoice_date_assumed"
    # No created date: a stage change cannot be before it; no expected close: the unknown row.
    assert unknown.days_in_stage == 90 and "stage_change_before_created" not in unknown["flags"]
    assert unknown.predicted_invoice_date.date() == days_ahead(45 + 14)


def test_rules_a_missing_stage_status_or_currency_has_a_row_of_its_lookup():
    frame = predict_frame(
        deals(
            {"stage": None, "status": None, "currency": None, "value": 100.0, "value_base": None},
            {"stage": "Approved", "status": None, "payment_date": days_ago(3)},
        ),
        AS_OF,
        SEED_PROFILE,
    )
    p, paid = frame.iloc[0], frame.iloc[1]
    # No status: open. No currency: the base currency. No stage: the unknown stage's row.
    assert (p.kind, p.value_base, p.weighted_value, p["flags"]) == ("forecast", 100.0, 100.0, "no_stage")
    assert (p.predicted_invoice_date.date(), p.confidence) == (days_ahead(45), 0.50)
    assert (paid.kind, paid.predicted_payment_date.date()) == ("received", days_ago(3))


def test_apply_overrides_keeps_a_missing_invoice_date_and_confidence_missing():
    est = estimate_frame(deals({"stage": "Approved"}), AS_OF, SEED_PROFILE)
    est["predicted_invoice_date"] = np.array(["NaT"], dtype="datetime64[s]")
    est["confidence"] = np.nan
    p = apply_overrides(est, AS_OF, SEED_PROFILE).iloc[0]
    assert pd.isna(p.predicted_invoice_date) and pd.isna(p.predicted_payment_date) and pd.isna(p.payment_p10)
    assert np.isnan(p.confidence)
    assert p["flags"] == ""  # nothing moved, fixed or rolled: no date to compare


def test_rules_module_imports_neither_pandas_nor_pyarrow():
    code = "import sys, core.cashflow.rules; print(sorted({'pandas', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
