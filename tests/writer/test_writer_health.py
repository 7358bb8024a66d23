"""Rule-based health: the thresholds of DESIGN section 7, exactly at their edges."""

import pytest

from core.cashflow.assumptions import SEED_PROFILE
from core.writer.health import STAGE_THRESHOLDS, assess_health, communication_gap, stage_threshold
from core.writer.models import CommunicationGap, HealthStatus

THRESHOLDS = [
    ("Order Received", 21, 45),
    ("Approved", 5, 10),
    ("Awaiting Payment", 7, 14),
    ("Awaiting Site Readiness", 14, 30),
    ("Everything Ready (but not started)", 10, 21),
    ("Under Progress", 14, 28),
    ("Awaiting MDD", 7, 14),
    ("Awaiting GCC", 7, 14),
    ("Awaiting GR", 14, 30),
]


@pytest.mark.parametrize("stage, warning, critical", THRESHOLDS)
def test_assess_health_turns_at_risk_at_warning_and_critical_at_critical(stage, warning, critical):
    assert assess_health(stage, warning - 1, 0).status is HealthStatus.HEALTHY
    assert assess_health(stage, warning, 0).status is HealthStatus.AT_RISK
    assert assess_health(stage, critical - 1, 0).status is HealthStatus.AT_RISK
    assert assess_health(stage, critical, 0).status is HealthStatus.CRITICAL


@pytest.mark.parametrize("spelling", ["Underprogress", "under  progress", "UNDER PROGRESS"])
def test_stage_threshold_matches_stage_spellings(spelling):
    assert stage_threshold(spelling) == stage_threshold("Under Progress")
    assert SEED_PROFILE.match_stage(spelling) == SEED_PROFILE.match_stage("Under Progress")


def test_every_health_stage_is_a_stage_the_forecast_knows_as_the_same_stage():
    """One stage matching (core.deals.normalise_stage plus aliases): a stage the health check
    knows is a row of the forecast's stage table, and every spelling of that row has the same
    thresholds."""
    for key, threshold in STAGE_THRESHOLDS.items():
        row = SEED_PROFILE.match_stage(key)
        assert row is not None, key
        stage = SEED_PROFILE.stages[row]
        for spelling in (stage.name, *stage.aliases):
            assert stage_threshold(spelling) == threshold, spelling


@pytest.mark.parametrize(
    "spelling", ["Under-Progress", "Under_Progress", "Everything Ready (soon)", "AwaitingGR"]
)
def test_a_spelling_the_forecast_does_not_match_has_no_health_threshold(spelling):
    """Punctuation and bracketed asides no longer match loosely (they did before the health
    check used the forecast's matching): such a stage is unknown to both."""
    assert SEED_PROFILE.match_stage(spelling) is None
    assert stage_threshold(spelling) is None


def test_stage_threshold_is_none_for_a_stage_without_one():
    assert stage_threshold("Qualified") is None
    assert stage_threshold(None) is None


@pytest.mark.parametrize(
    "days, band",
    [(None, CommunicationGap.UNKNOWN), (0, CommunicationGap.HEALTHY), (4, CommunicationGap.HEALTHY),
     (5, CommunicationGap.ACCEPTABLE), (9, CommunicationGap.ACCEPTABLE), (10, CommunicationGap.WARNING),
     (14, CommunicationGap.WARNING), (15, CommunicationGap.GAP)],
)
def test_communication_gap_bands(days, band):
    assert communication_gap(days) is band


def test_assess_health_a_communication_gap_puts_a_fresh_deal_at_risk():
    assessment = assess_health("Approved", 1, 20)
    assert assessment.stage_status is HealthStatus.HEALTHY
    assert assessment.status is HealthStatus.AT_RISK


def test_assess_health_a_gap_does_not_soften_a_critical_stage():
    assert assess_health("Approved", 30, 1).status is HealthStatus.CRITICAL


def test_assess_health_unknown_stage_judges_by_communication_only():
    assessment = assess_health("Negotiation", 400, 2)
    assert assessment.stage_status is None
    assert assessment.status is HealthStatus.HEALTHY
