"""Assumptions as editable tables: round trip, every cell checked, problems named, nothing half applied."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow.assumptions import SEED_PROFILE, load_assumptions, save_assumptions
from core.cashflow.edits import AssumptionEditError, apply_edits, changed, edit_frames
from core.currency import DEFAULT_SAR_RATES
from core.errors import InputError


def editable_frames() -> dict[str, pd.DataFrame]:
    """The seed's tables with object columns, so a test can type anything into any cell."""
    return {name: frame.astype(object) for name, frame in edit_frames(SEED_PROFILE).items()}


def problems_of(frames) -> list[str]:
    with pytest.raises(AssumptionEditError) as caught:
        apply_edits(SEED_PROFILE, frames)
    return [str(problem) for problem in caught.value.problems]


def test_edit_frames_round_trip_to_the_same_profile():
    frames = edit_frames(SEED_PROFILE)

    again = apply_edits(SEED_PROFILE, frames)

    assert not changed(SEED_PROFILE, again)
    assert again.profile_json() == SEED_PROFILE.profile_json()
    assert list(frames["stages"].columns) == [
        "stage", "optimistic", "realistic", "conservative", "late", "probability", "aliases"]
    assert frames["stages"].set_index("stage").loc["Under Progress", "aliases"] == "Underprogress"


def test_apply_edits_changes_each_table():
    frames = edit_frames(SEED_PROFILE)
    frames["stages"].loc[0, ["realistic", "probability", "aliases"]] = [50, 0.4, "Order received, PO in"]
    frames["payment_rules"].loc[1] = ["pipeline", "government", 90]
    frames["stuck"] = frames["stuck"].iloc[[1]]
    frames["rates"].loc[len(frames["rates"])] = ["nok", 0.35]
    parameters = frames["parameters"].set_index("parameter")
    parameters.loc["default_payment_days", "value"] = 45
    parameters.loc["unknown_stage.realistic", "value"] = 50
    frames["parameters"] = parameters.reset_index()

    profile = apply_edits(SEED_PROFILE, frames)

    assert changed(SEED_PROFILE, profile)
    first = profile.stages[0]
    assert (first.realistic, first.probability, first.aliases) == (50, 0.4, ["Order received", "PO in"])
    assert profile.payment_rules[1].model_dump() == {"field": "pipeline", "pattern": "government", "days": 90}
    assert [rule.over_days for rule in profile.stuck] == [30]
    assert profile.rates["NOK"] == 0.35
    assert profile.default_payment_days == 45 and isinstance(profile.default_payment_days, int)
    assert profile.unknown_stage.realistic == 50
    assert profile.match_stage("po in") == 0


def test_apply_edits_ignores_blank_rows_added_in_the_editor():
    frames = editable_frames()
    frames["stages"].loc[len(frames["stages"])] = [None, None, None, None, None, None, None]
    frames["payment_rules"].loc[1] = [None, "", None]

    profile = apply_edits(SEED_PROFILE, frames)

    assert len(profile.stages) == len(SEED_PROFILE.stages) and len(profile.payment_rules) == 1


def test_apply_edits_names_every_problem_with_row_column_value_and_reason():
    frames = editable_frames()
    frames["stages"].loc[1, "conservative"] = 20          # Approved: 17 / 29 / 20
    frames["stages"].loc[2, "stage"] = "approved "        # same name as row 2 after normalising
    frames["stages"].loc[3, "probability"] = 1.5
    frames["stages"].loc[4, "optimistic"] = 2.5
    frames["payment_rules"].loc[0, ["field", "pattern"]] = ["owner", "[unclosed"]
    frames["stuck"].loc[1, "over_days"] = 60
    frames["rates"].loc[1, "currency"] = "US DOLLAR"
    frames["rates"].loc[2, "rate"] = -4.05

    problems = problems_of(frames)

    assert problems == [
        "Stage table, row 4 (Awaiting Site Readiness), column 'probability', value 1.5: "
        "must be between 0 and 1",
        "Stage table, row 5 (Everything Ready (but not started)), column 'optimistic', value 2.5: "
        "must be a whole number of days, 0 or more",
        "Stage table, row 2 (Approved), column 'conservative', value 20: days must be ordered "
        "optimistic <= realistic <= conservative (here 17, 29, 20)",
        "Stage table, row 3 (approved), column 'stage', value 'approved': the name 'approved' is already "
        "used in row 2",
        "Payment rules, row 1 ([unclosed), column 'field', value 'owner': "
        "must be one of organization, pipeline",
        "Payment rules, row 1 ([unclosed), column 'pattern', value '[unclosed': "
        "not a valid regular expression (unterminated character set at position 0)",
        "Stuck-deal rules, row 2 (60), column 'over_days', value 60: already used in row 1",
        "Currency rates, row 3 (EUR), column 'rate', value -4.05: must be more than 0",
        "Currency rates, row 2 (US DOLLAR), column 'currency', value 'US DOLLAR': must be a three-letter "
        "ISO 4217 code such as USD",
    ]


def test_apply_edits_requires_values_and_keeps_the_base_currency_at_one():
    frames = edit_frames(SEED_PROFILE)
    frames["stages"].loc[0, "realistic"] = None
    frames["rates"].loc[0, "rate"] = 2.0

    assert problems_of(frames) == [
        "Stage table, row 1 (Order Received), column 'realistic', empty: a value is required",
        "Currency rates, row 1 (SAR), column 'rate', value 2: SAR is the base currency: its rate is 1",
    ]
    frames = edit_frames(SEED_PROFILE)
    frames["rates"] = frames["rates"].iloc[1:]
    assert problems_of(frames) == ["Currency rates: the base currency SAR needs its row (rate 1)"]


def test_apply_edits_checks_parameters_by_their_kind_and_against_each_other():
    frames = editable_frames()
    parameters = frames["parameters"].set_index("parameter")
    parameters.loc["default_payment_days", "value"] = 37.5
    parameters.loc["confidence_min", "value"] = 0.9
    parameters.loc["confidence_max", "value"] = 0.8
    parameters.loc["unknown_stage.optimistic", "value"] = 99
    frames["parameters"] = parameters.reset_index()

    assert problems_of(frames) == [
        "Parameters, row 1 (default_payment_days), column 'value', value 37.5: "
        "must be a whole number of days, 0 or more",
        "Parameters (confidence_min), column 'value', value 0.9: confidence_min must not exceed "
        "confidence_max (0.8)",
        "Parameters (unknown_stage), column 'value', value 45: unknown-stage days must be ordered "
        "optimistic <= realistic <= conservative (here 99, 45, 90)",
    ]


def test_assumption_edit_error_is_input_error_with_one_line_per_problem():
    frames = edit_frames(SEED_PROFILE)
    frames["stages"].loc[0, "stage"] = ""

    with pytest.raises(InputError) as caught:
        apply_edits(SEED_PROFILE, frames)

    assert str(caught.value).splitlines() == [
        "The assumptions were not saved (1 problem):",
        "Stage table, row 1, column 'stage', empty: a value is required",
    ]


def test_edited_profile_saves_as_the_next_version(store):
    frames = edit_frames(SEED_PROFILE)
    frames["stages"].loc[9, "realistic"] = 8

    saved = save_assumptions(store, apply_edits(SEED_PROFILE, frames), "GR faster")

    assert saved.version == 1
    assert load_assumptions(store).stages[9].realistic == 8


def test_assumptions_rates_are_the_ingest_default_rates():
    table = SEED_PROFILE.rate_table()

    assert table.base == "SAR"
    assert table.rates == DEFAULT_SAR_RATES


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), min_size=3, max_size=3))
def test_apply_edits_accepts_a_stage_row_exactly_when_its_days_are_ordered(days):
    frames = edit_frames(SEED_PROFILE)
    frames["stages"].loc[0, ["optimistic", "realistic", "conservative"]] = days

    if days == sorted(days):
        profile = apply_edits(SEED_PROFILE, frames)
        first = profile.stages[0]
        assert [first.optimistic, first.realistic, first.conservative] == days
    else:
        problems = problems_of(frames)
        assert len(problems) == 1 and "days must be ordered" in problems[0]


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5)))
def test_apply_edits_accepts_a_rate_exactly_when_it_is_a_positive_number(rate):
    frames = editable_frames()
    frames["rates"].loc[1, "rate"] = rate
    try:
        number = float(rate)
    except ValueError:
        number = math.nan
    blank = (isinstance(rate, str) and not rate.strip()) or (isinstance(rate, float) and math.isnan(rate))

    if not blank and math.isfinite(number) and number > 0:
        assert apply_edits(SEED_PROFILE, frames).rates["USD"] == number
    else:
        assert len(problems_of(frames)) == 1


def test_edit_frames_give_plain_columns_for_an_editor():
    frames = edit_frames(SEED_PROFILE)

    assert frames["stages"]["probability"].dtype == "float64"
    assert frames["parameters"]["parameter"].tolist()[:2] == ["default_payment_days", "base_confidence"]
    assert isinstance(frames["rates"], pd.DataFrame)
