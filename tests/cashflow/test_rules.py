"""The rules engine against DESIGN 5.1, row by row and rule by rule."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from core.cashflow import SEED_PROFILE, DealForPrediction, DealPrediction, DeterministicRules, predict_frame
from core.cashflow.assumptions import PaymentRule
from tests.cashflow.helpers import AS_OF, days_ago, days_ahead, deals

# fmt: off
# stage,                                 optimistic, realistic, conservative, confidence (fresh deal)
STAGE_TABLE = [
    ("Order Received",                        27, 42, 67, 0.70),
    ("Approved",                              17, 29, 51, 0.70),
    ("Awaiting Payment",                      16, 27, 49, 0.70),
    ("Awaiting Site Readiness",               13, 22, 42, 0.70),
    ("Everything Ready (but not started)",    10, 17, 35, 0.70),
    ("Under Progress",                         7, 12, 28, 0.70),
    ("Underprogress",                          7, 12, 28, 0.70),
    ("Production/Supplying",                   7, 12, 28, 0.70),
    ("Awaiting MDD",                           7, 12, 28, 0.85),
    ("Awaiting GCC",                           5, 10, 21, 0.85),
    ("Awaiting GR",                            4,  7, 14, 0.85),
    ("A stage nobody defined",                30, 45, 90, 0.50),
]
# fmt: on


def one(**row) -> pd.Series:
    return predict_frame(deals(row), AS_OF, SEED_PROFILE).iloc[0]


@pytest.mark.parametrize(("stage", "optimistic", "realistic", "conservative", "confidence"), STAGE_TABLE)
def test_rules_stage_table_gives_days_to_invoice_band_and_confidence(
    stage, optimistic, realistic, conservative, confidence
):
    p = one(stage=stage)
    assert p.predicted_invoice_date.date() == days_ahead(realistic)
    assert p.invoice_p10.date() == days_ahead(optimistic)
    assert p.invoice_p90.date() == days_ahead(conservative)
    assert p.confidence == confidence
    assert p.predicted_payment_date.date() == days_ahead(realistic + 37)
    assert p.method == "rules"


@pytest.mark.parametrize(
    "spelling",
    [
        "under progress",
        "  UNDER   Progress ",
        "Production / Supplying",
        "production/ supplying",
        "Everything Ready",
    ],
)
def test_rules_stage_names_match_after_normalisation_and_aliases(spelling):
    p = one(stage=spelling)
    assert "unknown_stage" not in p["flags"]
    assert p.confidence == 0.70


@pytest.mark.parametrize(
    ("days_in_stage", "added_days", "confidence"),
    [
        (30, 0, 0.70),
        (31, 7, 0.65),
        (60, 7, 0.65),
        (61, 14, 0.60),
        (200, 14, 0.60),
    ],
)
def test_rules_stuck_deals_get_later_dates_and_lower_confidence(days_in_stage, added_days, confidence):
    p = one(stage="Approved", created_at=days_ago(300), stage_changed_at=days_ago(days_in_stage))
    assert p.predicted_invoice_date.date() == days_ahead(29 + added_days)
    assert p.invoice_p90.date() == days_ahead(51 + added_days)
    assert p.confidence == confidence  # exactly 0.65, not 0.6499999
    assert ("stuck" in p["flags"]) == (added_days > 0)


def test_rules_late_stage_sets_0_85_after_the_stuck_penalty():
    p = one(stage="Awaiting GCC", created_at=days_ago(100), stage_changed_at=days_ago(70))
    assert p.confidence == 0.85  # seed order: step 3 (late stage) follows step 2 (stuck)
    assert p.predicted_invoice_date.date() == days_ahead(10 + 14)  # the stuck days still count
    assert {"late_stage", "stuck"} <= set(p["flags"].split(","))
    assert "late stage, so confidence stays 0.85" in p.reasoning


def test_rules_days_in_stage_fall_back_to_creation_date():
    p = one(stage="Approved", created_at=days_ago(45), stage_changed_at=None)
    assert p.predicted_invoice_date.date() == days_ahead(29 + 7)


def test_rules_unknown_stage_with_future_expected_close_uses_that_date():
    p = one(stage="Contract Sent", expected_close=days_ahead(20))
    assert p.predicted_invoice_date.date() == days_ahead(20)
    assert p.confidence == 0.50
    assert "expected close" in p.reasoning
    assert {"unknown_stage", "expected_close"} <= set(p["flags"].split(","))


def test_rules_unknown_stage_with_past_expected_close_gets_45_days():
    p = one(stage="Contract Sent", expected_close=days_ago(3))
    assert p.predicted_invoice_date.date() == days_ahead(45)
    assert "not in the stage table" in p.reasoning


@pytest.mark.parametrize("stage", ["Invoice Issued", "invoiced"])
def test_rules_invoiced_stage_takes_the_stage_change_date_as_a_fact(stage):
    p = one(stage=stage, created_at=days_ago(90), stage_changed_at=days_ago(40))
    assert p.predicted_invoice_date.date() == days_ago(40)  # a fact is never moved
    assert p.invoice_p10 == p.invoice_p90 == p.predicted_invoice_date
    assert p.confidence == 0.95
    assert p.predicted_payment_date.date() == AS_OF  # 40 - 37 days: overdue, rolled
    assert set(p["flags"].split(",")) == {"invoiced", "overdue_rolled"}


def test_rules_invoice_date_column_is_a_fact_in_any_stage():
    p = one(stage="Approved", invoice_date=days_ago(2))
    assert p.predicted_invoice_date.date() == days_ago(2)
    assert p.predicted_payment_date.date() == days_ahead(35)
    assert p.confidence == 0.95


@pytest.mark.parametrize(
    "row",
    [
        {"stage": "Payment Received", "status": "won", "stage_changed_at": days_ago(3)},
        {"stage": "Invoice Issued", "status": "won", "payment_date": days_ago(3)},
    ],
)
def test_rules_paid_deals_are_reported_as_received_not_forecast(row):
    p = one(**row)
    assert p.kind == "received"
    assert p.predicted_payment_date.date() == days_ago(3)
    assert "received" in p["flags"]


def test_rules_won_deals_not_yet_invoiced_are_forecast_at_probability_one():
    p = one(stage="Awaiting GR", status="won", probability=0.4)
    assert p.kind == "forecast"
    assert p.probability == 1.0
    assert p.weighted_value == 1000.0


@pytest.mark.parametrize("status", ["lost", "deleted"])
def test_rules_lost_and_deleted_deals_are_not_forecast_but_kept(status):
    p = one(stage="Approved", status=status)
    assert p.kind == "not_forecast"
    assert pd.isna(p.predicted_invoice_date)
    assert p["flags"] == "not_forecast"


@pytest.mark.parametrize(
    ("organization", "pipeline", "terms"),
    [
        ("Saudi Aramco", "Projects", 7),
        ("ARAMCO Services", None, 7),
        ("Ma'aden", "Projects", 37),
        (None, None, 37),
    ],
)
def test_rules_payment_terms_default_37_days_and_aramco_7(organization, pipeline, terms):
    p = one(stage="Under Progress", organization=organization, pipeline=pipeline)
    assert p.predicted_payment_date.date() == days_ahead(12 + terms)
    assert f"payment {terms} days after invoice" in p.reasoning


def test_rules_pipeline_payment_rules_apply_in_list_order():
    profile = SEED_PROFILE.model_copy(
        update={
            "payment_rules": [
                PaymentRule(field="pipeline", pattern="^retail$", days=14),
                *SEED_PROFILE.payment_rules,
            ]
        }
    )
    p = predict_frame(
        deals({"stage": "Under Progress", "pipeline": "Retail", "organization": "Aramco"}), AS_OF, profile
    ).iloc[0]
    assert p.payment_terms_days == 14


def test_rules_probability_is_the_deals_own_else_the_stages_else_one():
    profile = SEED_PROFILE.model_copy(deep=True)
    profile.stages[1].probability = 0.6  # Approved
    frame = predict_frame(
        deals({"stage": "Approved", "probability": 0.25}, {"stage": "Approved"}, {"stage": "Under Progress"}),
        AS_OF,
        profile,
    )
    assert frame["probability"].tolist() == [0.25, 0.6, 1.0]
    assert frame["weighted_value"].tolist() == [250.0, 600.0, 1000.0]


def test_rules_value_is_converted_to_the_base_currency_when_missing():
    p = one(stage="Approved", value=100.0, currency="usd", value_base=None)
    assert p.value_base == 375.0


# -- bad input: a prediction with a reason, or a flag saying why it is out of the totals --


@pytest.mark.parametrize(
    ("row", "flag", "confidence"),
    [
        ({"stage": None}, "no_stage", 0.50),
        ({"stage": "Approved", "value": None, "value_base": None}, "no_value", 0.70),
        ({"stage": "Approved", "value": -5.0, "value_base": -5.0}, "negative_value", 0.70),
        (
            {"stage": "Approved", "value": 10.0, "currency": "XYZ", "value_base": None},
            "unknown_currency",
            0.70,
        ),
        (
            {"stage": "Approved", "created_at": days_ahead(3), "stage_changed_at": days_ahead(3)},
            "created_in_future",
            0.60,
        ),
        (
            {"stage": "Approved", "created_at": days_ago(10), "stage_changed_at": days_ago(20)},
            "stage_change_before_created",
            0.60,
        ),
    ],
)
def test_rules_bad_input_is_predicted_and_flagged_with_a_reason(row, flag, confidence):
    p = one(**row)
    assert flag in p["flags"].split(",")
    assert p.confidence == confidence
    assert not pd.isna(p.predicted_invoice_date)
    assert len(p.reasoning) > 20


def test_rules_values_that_cannot_count_are_weighted_zero():
    frame = predict_frame(
        deals(
            {"stage": "Approved", "value": None, "value_base": None},
            {"stage": "Approved", "value": -5.0, "value_base": -5.0},
        ),
        AS_OF,
        SEED_PROFILE,
    )
    assert frame["weighted_value"].tolist() == [0.0, 0.0]


def test_rules_confidence_is_clamped_to_the_floor():
    profile = SEED_PROFILE.model_copy(update={"unknown_stage_confidence": 0.32})
    p = predict_frame(
        deals({"stage": "???", "created_at": days_ago(200), "stage_changed_at": days_ago(100)}),
        AS_OF,
        profile,
    ).iloc[0]
    assert p.confidence == 0.30


# -- overrides every engine obeys (an LLM's dates go through the same code) --

RULES = DeterministicRules()
#: A fresh Approved deal: the stage estimate is 29 days at 0.70, payment 37 days later.
APPROVED = DealForPrediction(
    deal_id="7", stage="Approved", value=10.0, value_base=10.0, created_at=days_ago(10),
    stage_changed_at=days_ago(5),
)


def guess(**fields) -> DealPrediction:
    return DealPrediction(deal_id="7", confidence=0.8, method="llm", reasoning="model guess", **fields)


def test_apply_overrides_moves_a_guessed_invoice_over_30_days_past():
    p = RULES.apply_overrides(guess(predicted_invoice_date=days_ago(31)), APPROVED, AS_OF)
    assert p.predicted_invoice_date == days_ahead(7)
    assert p.confidence == 0.60
    assert p.predicted_payment_date == days_ahead(7 + 37)
    assert "past_invoice_moved" in p.flags
    assert p.method == "llm"


def test_apply_overrides_keeps_a_guess_within_30_days_and_rolls_its_overdue_payment():
    p = RULES.apply_overrides(guess(predicted_invoice_date=days_ago(30)), APPROVED, AS_OF)
    assert p.predicted_invoice_date == days_ago(30)
    assert p.predicted_payment_date == days_ahead(7)


def test_apply_overrides_never_moves_a_fact():
    invoiced = APPROVED.model_copy(update={"stage": "Invoice Issued", "stage_changed_at": days_ago(90)})
    p = RULES.apply_overrides(guess(predicted_invoice_date=days_ahead(5)), invoiced, AS_OF)
    assert p.predicted_invoice_date == days_ago(90)
    assert p.predicted_payment_date == AS_OF
    assert (p.confidence, p.method) == (0.95, "rules")
    assert "overdue_rolled" in p.flags


@pytest.mark.parametrize("confidence", [0.39, 0.0, None])
def test_apply_overrides_uses_the_stage_estimate_below_0_40(confidence):
    p = RULES.apply_overrides(
        guess(predicted_invoice_date=days_ahead(3)).model_copy(update={"confidence": confidence}),
        APPROVED,
        AS_OF,
    )
    assert (p.predicted_invoice_date, p.confidence, p.method) == (days_ahead(29), 0.70, "rules")
    assert "stage estimate used" in p.reasoning


def test_apply_overrides_keeps_a_prediction_at_0_40():
    p = RULES.apply_overrides(
        guess(predicted_invoice_date=days_ahead(3)).model_copy(update={"confidence": 0.40}), APPROVED, AS_OF
    )
    assert (p.predicted_invoice_date, p.confidence) == (days_ahead(3), 0.40)


def test_apply_overrides_past_invoice_penalty_has_a_floor():
    p = RULES.apply_overrides(
        guess(predicted_invoice_date=days_ago(60)).model_copy(update={"confidence": 0.4}), APPROVED, AS_OF
    )
    assert p.confidence == 0.30


def test_apply_overrides_puts_payment_after_the_invoice_with_the_deals_terms():
    aramco = APPROVED.model_copy(update={"organization": "Saudi Aramco"})  # 7-day terms in the seed profile
    p = RULES.apply_overrides(
        guess(predicted_invoice_date=days_ahead(10), predicted_payment_date=days_ahead(5)), aramco, AS_OF
    )
    assert p.predicted_payment_date == days_ahead(17)
    assert "payment_fixed" in p.flags


def test_apply_overrides_clamps_and_rounds_confidence():
    p = RULES.apply_overrides(
        guess(predicted_invoice_date=days_ahead(10)).model_copy(update={"confidence": 0.99}), APPROVED, AS_OF
    )
    assert p.confidence == 0.95


def test_validate_prediction_warns_about_far_invoices_and_long_payment_gaps():
    far = guess(predicted_invoice_date=days_ahead(400), predicted_payment_date=days_ahead(520))
    warnings = RULES.validate_prediction(far, AS_OF)
    assert any("365 days" in w for w in warnings)
    assert any("90 days" in w for w in warnings)
    assert (
        RULES.validate_prediction(
            guess(predicted_invoice_date=days_ahead(5), predicted_payment_date=days_ahead(42)), AS_OF
        )
        == []
    )


@pytest.mark.parametrize("invoice_days", [0, -3])
def test_validate_prediction_warns_about_an_invoice_not_after_today(invoice_days):
    p = guess(predicted_invoice_date=days_ahead(invoice_days), predicted_payment_date=days_ahead(40))
    assert "invoice date not after the as-of date (and not a fact)" in RULES.validate_prediction(p, AS_OF)
    fact = p.model_copy(update={"flags": ["invoiced"]})
    assert RULES.validate_prediction(fact, AS_OF) == []


@pytest.mark.parametrize("payment_days", [10, 4])
def test_validate_prediction_warns_about_a_payment_not_after_its_invoice(payment_days):
    p = guess(predicted_invoice_date=days_ahead(10), predicted_payment_date=days_ahead(payment_days))
    assert RULES.validate_prediction(p, AS_OF) == ["payment date not after its invoice date"]


def test_get_stage_estimate_gives_days_or_none():
    assert RULES.get_stage_estimate("awaiting gr") == 7
    assert RULES.get_stage_estimate("Order Received") == 42
    assert RULES.get_stage_estimate("Qualified") is None
    assert RULES.get_stage_estimate(None) is None


def test_stage_estimate_reads_the_table():
    estimate = RULES.stage_estimate("awaiting gr")
    assert (estimate.matched, estimate.realistic, estimate.confidence, estimate.late) == (
        "Awaiting GR",
        7,
        0.85,
        True,
    )
    unknown = RULES.stage_estimate("Qualified")
    assert (unknown.known, unknown.realistic, unknown.confidence) == (False, 45, 0.50)
    assert RULES.stage_estimate("Invoice Issued").invoiced


def test_precheck_deal_settles_an_invoiced_stage_with_its_stage_change_date():
    invoiced = APPROVED.model_copy(update={"stage": "Invoice Issued", "stage_changed_at": days_ago(4)})
    p = RULES.precheck_deal(invoiced, AS_OF)
    assert p is not None
    assert (p.predicted_invoice_date, p.confidence) == (days_ago(4), 0.95)
    assert RULES.precheck_deal(APPROVED.model_copy(update={"status": "lost"}), AS_OF).kind == "not_forecast"
    assert RULES.precheck_deal(APPROVED, AS_OF) is None


def test_check_deal_names_what_is_wrong():
    check = RULES.check_deal(
        DealForPrediction(deal_id="9", stage="Approved", value=5, currency="ZZZ", created_at=days_ahead(2)),
        AS_OF,
    )
    assert check.kind == "forecast"
    assert {"unknown_currency", "created_in_future"} <= set(check.flags)
    assert any("unknown currency" in issue for issue in check.issues)


def test_predict_deal_matches_the_frame_path():
    deal = DealForPrediction(
        deal_id="5",
        stage="Approved",
        value=10.0,
        value_base=10.0,
        created_at=days_ago(10),
        stage_changed_at=days_ago(5),
    )
    p = RULES.predict_deal(deal, AS_OF)
    assert p.predicted_invoice_date == days_ahead(29)
    assert p.reasoning.startswith("Stage 'Approved' (stage table): invoice in 29 days")
    assert isinstance(p.predicted_invoice_date, dt.date)


# -- the seed's rule order, every case ---------------------------------------------------

LATE = {"Awaiting MDD", "Awaiting GCC", "Awaiting GR"}
STUCK_BANDS = [0, 30, 31, 60, 61, 200]  # days in stage: fresh, edges of the 30- and 60-day bands


def seed_order(stage: str, realistic: int, known: bool, days_in_stage: int, invoice_fact: dt.date | None):
    """The reference engine's five steps, written out from the seed document."""
    if stage == "Invoice Issued" or invoice_fact is not None:  # step 4: the invoice is a fact
        return invoice_fact or days_ago(days_in_stage), 0.95
    days, confidence = (realistic, 0.70) if known else (45, 0.50)  # step 1
    if days_in_stage > 60:  # step 2
        days, confidence = days + 14, confidence - 0.10
    elif days_in_stage > 30:
        days, confidence = days + 7, confidence - 0.05
    if stage in LATE:  # step 3 sets, whatever step 2 did
        confidence = 0.85
    return days_ahead(days), round(min(max(confidence, 0.30), 0.95), 2)  # step 5


def test_rules_follow_the_seed_order_for_every_stage_stuck_band_and_invoice_case():
    cases = [
        (stage, realistic, stage != "A stage nobody defined", band, fact)
        for stage, _, realistic, _, _ in [*STAGE_TABLE, ("Invoice Issued", 0, 0, 0, 0.95)]
        for band in STUCK_BANDS
        for fact in (None, days_ago(3))
    ]
    rows = [
        {"stage": stage, "created_at": days_ago(400), "stage_changed_at": days_ago(band),
         "invoice_date": fact}
        for stage, _, _, band, fact in cases
    ]
    frame = predict_frame(deals(*rows), AS_OF, SEED_PROFILE)
    got = list(zip([d.date() for d in frame["predicted_invoice_date"]], frame["confidence"], strict=True))
    expected = [seed_order(*case) for case in cases]
    assert len(cases) == 13 * 6 * 2
    assert [c for c, g, e in zip(cases, got, expected, strict=True) if g != e] == []
