"""Results built without an LLM: useful, within limits, honest about why (confidence 0)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.writer.fallbacks import (
    fallback_compliance,
    fallback_deal_health,
    fallback_deal_summary,
    fallback_email,
    fallback_note_summary,
    fallback_order_received,
    fallback_reminder,
)
from core.writer.models import (
    DEFAULT_EMAIL_INTENT,
    ComplianceContext,
    DealHealthContext,
    DealSummaryContext,
    EmailDraftContext,
    HealthStatus,
    NoteSummaryContext,
    OrderReceivedContext,
    ReminderDraftContext,
)
from core.writer.text import word_count

NOTES = (
    "2026-01-05 Sara: Site survey done, checklist attached.\n"
    "2026-01-12 Omar: Waiting for the client to confirm site readiness.\n"
    "2026-01-14 Omar: Omar will call Khalid on Sunday to agree the start date.\n"
    "2026-01-15 Sara: End user asked for a change to the lobby finish."
)
REASON = "LLM off: no API key is set"


def email_context(**changes):
    values = {
        "recipients": ["Khalid"], "subject_intent": "Site readiness",
        "deal_contexts": [{"deal_id": "101", "title": "Lobby fit-out", "stage": "Approved", "value": 120000,
                        "currency": "SAR", "organization": "Aramco", "days_in_stage": 6}],
    }
    return EmailDraftContext(**{**values, **changes})


def reminder_context(**changes):
    values = {"deal_id": "101", "deal_title": "Lobby fit-out", "stage": "Awaiting Payment",
                  "context": "the 30% advance payment", "due_date": "2026-02-01"}
    return ReminderDraftContext(**{**values, **changes})


def test_fallback_email_cites_the_deal_facts_and_says_why_it_is_plain():
    result = fallback_email(email_context(), REASON)
    assert result.deal_ids == ["101"]
    assert result.source == "fallback" and result.confidence == 0.0
    assert "Lobby fit-out (Aramco): currently Approved for 6 days, value SAR 120,000." in result.body
    assert result.subject == "Site readiness: Lobby fit-out"
    assert result.warnings[0].startswith("LLM off: no API key is set.")
    assert result.body_html.startswith("<p>Dear Khalid,</p>")


def test_fallback_email_writes_money_in_the_one_money_form():
    """core.formatting.money_full: the sign before the currency (was "SAR -5,000")."""
    credit = {**email_context().deal_contexts[0].model_dump(), "value": -5000}
    assert "value -SAR 5,000." in fallback_email(email_context(deal_contexts=[credit]), REASON).body


def test_fallback_email_names_every_deal_when_there_are_several():
    second = {"deal_id": "102", "title": "Villa joinery", "stage": "Awaiting GR"}
    result = fallback_email(email_context(deal_contexts=[email_context().deal_contexts[0], second]), REASON)
    assert result.deal_ids == ["101", "102"]
    assert result.subject == "Site readiness: 2 deals"
    assert "Villa joinery: currently Awaiting GR." in result.body


def test_fallback_email_in_arabic_uses_arabic_phrases():
    result = fallback_email(email_context(language="ar", sender_name="سارة"), REASON)
    assert result.language == "ar"
    assert result.body.startswith("السادة Khalid المحترمين")
    assert "مع خالص التحية" in result.body and result.body.endswith("سارة")
    assert "دون نموذج لغوي" in result.warnings[0]


def test_fallback_email_default_intent_speaks_the_email_language_but_a_user_intent_is_kept():
    arabic = fallback_email(email_context(language="ar", subject_intent=DEFAULT_EMAIL_INTENT), REASON)
    assert arabic.subject == "الخطوة التالية وموعدها: Lobby fit-out"
    assert "بخصوص: الخطوة التالية وموعدها." in arabic.body
    english = fallback_email(email_context(subject_intent=DEFAULT_EMAIL_INTENT), REASON)
    assert english.subject == "The next step and its date: Lobby fit-out"
    assert fallback_email(email_context(language="ar"), REASON).subject == "Site readiness: Lobby fit-out"


def test_fallback_email_greets_by_tone():
    assert fallback_email(email_context(tone="friendly"), REASON).body.startswith("Hi Khalid,")


@pytest.mark.parametrize(
    "urgency, prefix", [("low", "Hello"), ("high", "Urgent: "), ("critical", "URGENT: ")]
)
def test_fallback_reminder_marks_urgency(urgency, prefix):
    result = fallback_reminder(reminder_context(urgency=urgency, channel="sms"), REASON)
    assert result.message_text.startswith(prefix)


def test_fallback_reminder_sms_keeps_the_ask_and_date_when_it_must_shorten():
    context = reminder_context(
        channel="sms", deal_title="Headquarters interior fit-out for the eastern province branch office " * 2,
        context="the advance payment that is needed before materials can be ordered from the supplier",
    )
    result = fallback_reminder(context, REASON)
    assert len(result.message_text) <= 160
    assert result.message_text.endswith("due 2026-02-01. Please confirm the next step.")
    assert result.short_version is None and result.subject is None


def test_fallback_reminder_whatsapp_has_a_full_message_and_a_short_version():
    result = fallback_reminder(reminder_context(channel="whatsapp", deal_title="x" * 300), REASON)
    assert "the 30% advance payment" in result.message_text
    assert len(result.short_version) <= 160


def test_fallback_reminder_email_has_a_subject_and_at_most_150_words():
    context = reminder_context(channel="email", urgency="high", context="word " * 400)
    result = fallback_reminder(context, REASON)
    assert result.subject == "Urgent: Reminder: Lobby fit-out"
    assert word_count(result.message_text) <= 150
    assert result.tags == ["reminder", "email", "high", "Awaiting Payment"]


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(min_size=1, max_size=400).filter(str.strip),
    context=st.one_of(st.none(), st.text(max_size=400)),
    name=st.one_of(st.none(), st.text(min_size=1, max_size=60).filter(str.strip)),
    language=st.sampled_from(["en", "ar"]),
    urgency=st.sampled_from(["low", "medium", "high", "critical"]),
)
def test_fallback_reminder_always_fits_the_160_character_channels(title, context, name, language, urgency):
    base = {"deal_id": "1", "deal_title": title, "context": context, "recipient_name": name,
            "language": language, "urgency": urgency, "stage": "Awaiting Site Readiness",
            "due_date": "2026-03-01"}
    sms = fallback_reminder(ReminderDraftContext(channel="sms", **base), REASON)
    whatsapp = fallback_reminder(ReminderDraftContext(channel="whatsapp", **base), REASON)
    assert len(sms.message_text) <= 160
    assert len(whatsapp.short_version) <= 160


def test_fallback_reminder_in_arabic():
    result = fallback_reminder(reminder_context(channel="sms", language="ar", urgency="high"), REASON)
    assert result.message_text.startswith("عاجل: مرحبًا، تذكير بخصوص Lobby fit-out")


def summary_context(**changes):
    values = {"deal_id": "101", "title": "Lobby fit-out", "stage": "Awaiting Site Readiness", "owner": "Omar",
                  "days_in_stage": 20, "notes": NOTES}
    return DealSummaryContext(**{**values, **changes})


def test_fallback_deal_summary_extracts_state_blockers_and_next_action():
    result = fallback_deal_summary(summary_context(), REASON)
    assert result.deal_id == "101"
    assert result.summary.startswith(
        "Lobby fit-out is in Awaiting Site Readiness for 20 days, owned by Omar."
    )
    assert "Latest note (2026-01-15): End user asked for a change" in result.summary
    assert result.blockers == ["Waiting for the client to confirm site readiness."]
    assert result.next_action == "Omar will call Khalid on Sunday to agree the start date."
    assert result.missing_info == []
    assert result.recommendations[0].startswith(
        "20 days in Awaiting Site Readiness, at or past the warning mark of 14."
    )


def test_fallback_deal_summary_honours_its_switches_and_max_notes():
    result = fallback_deal_summary(
        summary_context(include_blockers=False, include_recommendations=False, max_notes=1), REASON
    )
    assert result.blockers == [] and result.recommendations == []
    assert "Omar will call" not in result.next_action  # only the latest note was read


def test_fallback_deal_summary_lists_what_is_missing():
    result = fallback_deal_summary(DealSummaryContext(deal_id="9", title="Bare"), REASON)
    assert result.missing_info == ["notes", "owner", "stage", "days in stage"]
    assert result.next_action == "Confirm the next step with the deal owner."


@pytest.mark.parametrize("shape, expected", [
    ("bullets",
     "- Site survey done, checklist attached.\n- Waiting for the client to confirm site readiness."),
    ("paragraph", "Site survey done, checklist attached. Waiting for the client to confirm site readiness."),
])
def test_fallback_note_summary_takes_the_format(shape, expected):
    result = fallback_note_summary(NoteSummaryContext(notes=NOTES, format=shape, max_length=13), REASON)
    assert result.summary == expected
    assert result.format == shape


def test_fallback_note_summary_cuts_at_max_length_words():
    result = fallback_note_summary(NoteSummaryContext(notes=NOTES, format="paragraph", max_length=10), REASON)
    assert word_count(result.summary) <= 10


def test_fallback_note_summary_finds_action_items_and_owners():
    notes = NOTES + "\n2026-01-16 Lina: Send the revised BOQ by Thursday."
    result = fallback_note_summary(NoteSummaryContext(notes=notes), REASON)
    assert result.action_items == [
        "Omar will call Khalid on Sunday to agree the start date.",
        "Send the revised BOQ by Thursday.",
    ]
    assert result.owners == ["Omar", "Lina"]


def test_fallback_note_summary_without_action_items():
    result = fallback_note_summary(NoteSummaryContext(notes=NOTES, extract_action_items=False), REASON)
    assert result.action_items == [] and result.owners == []


def test_fallback_compliance_finds_documents_by_keyword_and_field():
    context = ComplianceContext(
        deal_id="101", title="Lobby", notes="Survey checklist signed.\nQuality documents missing.",
        check_custom_fields=True, custom_fields={"QA/QC plan": "", "Survey form": "yes"},
    )
    result = fallback_compliance(context, REASON)
    assert result.survey_checklist_present is True
    assert result.quality_docs_present is False
    assert result.missing_items == ["quality documents", "custom field 'QA/QC plan' is empty"]


def test_fallback_compliance_leaves_switched_off_checks_unanswered():
    context = ComplianceContext(
        deal_id="101", title="Lobby", check_survey_checklist=False, check_quality_docs=False
    )
    result = fallback_compliance(context, REASON)
    assert result.survey_checklist_present is None and result.quality_docs_present is None
    assert result.missing_items == []


def test_fallback_order_received_counts_end_user_requests():
    context = OrderReceivedContext(
        deal_id="101", title="Lobby", contact="Khalid", value=10.0,
        notes="End user is Aramco facilities.\nEnd user requested extra sockets.\nEnd user asked for oak.",
    )
    result = fallback_order_received(context, REASON)
    assert result.end_user_identified is True
    assert result.end_user_requests_count == 2
    assert result.missing_items == []


def test_fallback_order_received_without_an_end_user():
    result = fallback_order_received(OrderReceivedContext(deal_id="101", title="Lobby"), REASON)
    assert result.end_user_identified is False and result.end_user_requests_count == 0
    assert result.missing_items == ["end user", "contact person", "deal value", "notes"]


def test_fallback_deal_health_applies_the_thresholds_and_explains():
    context = DealHealthContext(deal_id="101", title="Lobby", stage="Approved", days_in_stage=12,
                                days_since_last_note=16, notes=NOTES)
    result = fallback_deal_health(context, REASON)
    assert result.health_status is HealthStatus.CRITICAL
    assert result.stage_threshold.model_dump() == {"warning": 5, "critical": 10}
    assert result.communication_gap == "gap"
    assert result.summary.startswith("12 days in Approved, at or past the critical mark of 10.")
    assert result.blockers == ["Waiting for the client to confirm site readiness."]
    assert result.confidence == 0.0 and result.source == "fallback"


def test_fallback_deal_health_in_arabic():
    context = DealHealthContext(deal_id="1", title="t", stage="Approved", days_in_stage=6, language="ar")
    result = fallback_deal_health(context, REASON)
    assert result.health_status is HealthStatus.AT_RISK
    assert result.summary.startswith("6 يومًا في مرحلة Approved")
    assert result.status_flag == "تحتاج إلى متابعة"
