"""core.prompts.outputs: the models validate what the LLM writes, so a broken limit means a re-ask."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from core.prompts.outputs import (
    OUTPUT_MODELS,
    DatePredictions,
    DealHealthAnalysis,
    DealSummary,
    EmailReminder,
    HealthStatus,
    SmsReminder,
    WhatsAppReminder,
)

SUMMARY = {"summary": "On track.", "next_action": "Call the client.", "confidence": 0.7}


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_confidence_outside_zero_to_one_is_rejected(confidence):
    with pytest.raises(ValidationError, match="confidence"):
        DealSummary.model_validate({**SUMMARY, "confidence": confidence})


def test_lists_default_to_empty_and_keys_the_model_adds_are_dropped():
    summary = DealSummary.model_validate({**SUMMARY, "deal_id": "999"})
    assert summary.blockers == summary.missing_info == summary.recommendations == []
    assert "deal_id" not in summary.model_dump()


def test_sms_over_160_characters_is_rejected_and_160_arabic_letters_pass():
    with pytest.raises(ValidationError, match="at most 160 characters"):
        SmsReminder.model_validate({"message_text": "x" * 161, "confidence": 0.5})
    assert SmsReminder.model_validate({"message_text": "م" * 160, "confidence": 0.5}).tags == []


def test_whatsapp_short_version_is_limited_but_the_message_is_not():
    reminder = {"message_text": "word " * 100, "short_version": "y" * 160, "confidence": 0.5}
    assert WhatsAppReminder.model_validate(reminder).short_version == "y" * 160
    with pytest.raises(ValidationError, match="short_version"):
        WhatsAppReminder.model_validate({**reminder, "short_version": "y" * 161})


def test_email_reminder_over_150_words_is_rejected_with_the_count():
    reminder = {"subject": "Handover date", "confidence": 0.5}
    assert EmailReminder.model_validate({**reminder, "message_text": "word " * 150})
    with pytest.raises(ValidationError, match="has 151 words; at most 150 are allowed"):
        EmailReminder.model_validate({**reminder, "message_text": "word " * 151})


def test_health_status_accepts_only_the_three_states():
    health = {"status_flag": "Stalled", "summary": "s", "attribution": "client",
              "communication_assessment": "c", "recommended_action": "r", "confidence": 0.5}
    at_risk = DealHealthAnalysis.model_validate({**health, "health_status": "at_risk"})
    assert at_risk.health_status is HealthStatus.AT_RISK
    with pytest.raises(ValidationError, match="health_status"):
        DealHealthAnalysis.model_validate({**health, "health_status": "fine"})


def test_one_unreadable_date_does_not_fail_the_batch():
    batch = DatePredictions.model_validate({"predictions": [
        {"deal_id": "1", "predicted_invoice_date": "2026-02-10", "predicted_payment_date": None,
         "confidence": 0.6},
        {"deal_id": "2", "predicted_invoice_date": "next month", "predicted_payment_date": "2026-13-01",
         "confidence": 0.4, "assumptions": ["site not ready +10 days"], "reasoning": "guess"},
    ]})
    good, bad = batch.predictions
    assert good.invoice_date() == dt.date(2026, 2, 10) and good.payment_date() is None
    with pytest.raises(ValueError, match="predicted_invoice_date 'next month' is not a date in YYYY-MM-DD"):
        bad.invoice_date()
    with pytest.raises(ValueError, match="predicted_payment_date"):
        bad.payment_date()


def test_every_prompt_names_a_registered_output_model(registry):
    assert {template.output_model for template in registry.list()} == set(OUTPUT_MODELS)
