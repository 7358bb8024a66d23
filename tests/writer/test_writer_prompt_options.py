"""Every option of every context reaches the prompt: its effect is in the request the server got.

Each case sends the same context twice, once as is and once with the option changed, and
checks that the option's effect is in the second request and not in the first, so a case
cannot pass on text the prompt always contains.
"""

from __future__ import annotations

import pytest

from core.writer.models import (
    ComplianceContext,
    DealHealthContext,
    DealSummaryContext,
    EmailDraftContext,
    NoteSummaryContext,
    OrderReceivedContext,
    ReminderDraftContext,
)
from tests.writer.helpers import (
    compliance_context,
    email_context,
    health_context,
    notes_context,
    order_context,
    reminder_context,
    sent_text,
    summary_context,
)

ARABIC = "Write every text value in Arabic"
CONSTRAINT = "Mention the retention invoice INV-77."

EMAIL = [
    ({"tone": "firm"}, "Use a firm tone"),
    ({"language": "ar"}, ARABIC),
    ({"constraints": [CONSTRAINT]}, CONSTRAINT),
    ({"urgency": "critical"}, "Urgency is critical"),
    ({"recipient_role": "consultant"}, "(role: consultant)"),
    ({"recipients": ["Khalid", "Noura"]}, "Khalid, Noura"),
    ({"subject_intent": "confirm the retention release"}, "confirm the retention release"),
    ({"format": "bullets"}, "short bulleted list"),
    ({"max_length": 90}, "under 90 words"),
    ({"due_date": "2026-03-05"}, "by 2026-03-05"),
    ({"sender_name": "Sara"}, "Sign the email as Sara"),
    ({"max_notes": 1}, "older notes not shown"),
    ({"deal_contexts": [{"deal_id": "9", "title": "Villa joinery", "value": 98765, "currency": "USD"}]},
     "Value: USD 98,765"),
]
REMINDER = [
    ({"tone": "firm"}, "Use a firm tone"),
    ({"language": "ar"}, ARABIC),
    ({"constraints": [CONSTRAINT]}, CONSTRAINT),
    ({"urgency": "critical"}, "Urgency is critical"),
    ({"recipient_role": "site engineer"}, "Write to the site engineer"),
    ({"recipient_name": "Khalid"}, "client, Khalid"),
    ({"sender_name": "Sara"}, "Sara"),
    ({"due_date": "2026-03-09"}, "2026-03-09"),
    ({"context": "the retention invoice"}, "About: the retention invoice"),
    ({"deal_id": "7777"}, "CRM id: 7777"),
    ({"deal_title": "Villa joinery"}, "Deal: Villa joinery"),
    ({"stage": "Awaiting GR"}, "Stage: Awaiting GR"),
]
REMINDER_LENGTH = {"sms": "at most 100 characters", "whatsapp": "at most 100 characters",
                   "email": "at most 100 words"}
SUMMARY = [
    ({"tone": "firm"}, "Use a firm tone"),
    ({"language": "ar"}, ARABIC),
    ({"constraints": [CONSTRAINT]}, CONSTRAINT),
    ({"format": "bullets"}, "as bullet points"),
    ({"max_length": 70}, "under 70 words"),
    ({"include_blockers": False}, "Blockers were not requested"),
    ({"include_recommendations": False}, "Recommendations were not requested"),
    ({"max_notes": 1}, "older notes not shown"),
    ({"owner": "Lina"}, "Owner: Lina"),
    ({"days_in_stage": 33}, "Days in stage: 33"),
    ({"value": 98765, "currency": "USD"}, "Value: USD 98,765"),
    ({"organization": "Al Noor"}, "Organization: Al Noor"),
    ({"title": "Villa joinery"}, "Title: Villa joinery"),
    ({"stage": "Awaiting GR"}, "Stage: Awaiting GR"),
    ({"notes": "2026-02-02 Lina: Crew booked."}, "Lina: Crew booked."),
]
COMPLIANCE = [
    ({"language": "ar"}, ARABIC),
    ({"check_survey_checklist": False}, "Survey checklist: not checked"),
    ({"check_quality_docs": False}, "Quality documents: not checked"),
    ({"check_custom_fields": True, "custom_fields": {"PO number": ""}}, "PO number: (empty)"),
    ({"title": "Villa joinery"}, "Title: Villa joinery"),
    ({"stage": "Awaiting GR"}, "Stage: Awaiting GR"),
    ({"notes": "2026-02-02 Lina: QA/QC report signed."}, "Lina: QA/QC report signed."),
]
ORDER = [
    ({"language": "ar"}, ARABIC),
    ({"organization": "Al Noor"}, "Organization: Al Noor"),
    ({"contact": "Faisal"}, "Contact: Faisal"),
    ({"value": 98765, "currency": "USD"}, "Value: USD 98,765"),
    ({"days_in_stage": 33}, "Days in stage: 33"),
    ({"title": "Villa joinery"}, "Title: Villa joinery"),
    ({"stage": "Approved"}, "Stage: Approved"),
    ({"notes": "2026-02-02 Lina: End user is the ministry."}, "Lina: End user is the ministry."),
]
HEALTH = [
    ({"language": "ar"}, ARABIC),
    ({"tone": "firm"}, "Use a firm tone"),
    ({"days_since_last_note": 16}, "Days since last note: 16"),
    ({"days_in_stage": 31}, "Days in stage: 31"),
    ({"stage_history": [{"stage": "Approved", "entered_at": "2026-01-02"}]}, "2026-01-02: Approved"),
    ({"last_activity": "2026-01-30"}, "Last activity: 2026-01-30"),
    ({"owner": "Lina"}, "Owner: Lina"),
    ({"value": 98765, "currency": "USD"}, "Value: USD 98,765"),
    ({"title": "Villa joinery"}, "Title: Villa joinery"),
    ({"stage": "Awaiting GR"}, "Stage: Awaiting GR"),
    ({"notes": "2026-02-02 Lina: Client silent."}, "Lina: Client silent."),
]
NOTES = [
    ({"language": "ar"}, ARABIC),
    ({"format": "paragraph"}, "one paragraph of plain prose"),
    ({"max_length": 40}, "under 40 words"),
    ({"extract_action_items": False}, "Action items were not requested"),
    ({"title": "Villa joinery"}, 'on the deal "Villa joinery"'),
    ({"max_notes": 1}, "older notes not shown"),
    ({"notes": "2026-02-02 Lina: Crew booked."}, "Lina: Crew booked."),
]



def reminder_on(channel: str):
    return lambda **changes: reminder_context(channel=channel, **changes)


CASES = (
    [("draft_email_sync", email_context, changes, expected) for changes, expected in EMAIL]
    + [("draft_reminder_sync", reminder_on(channel), changes, expected)
       for channel in ("sms", "whatsapp", "email") for changes, expected in REMINDER]
    + [("draft_reminder_sync", reminder_on(channel), {"max_length": 100}, expected)
       for channel, expected in REMINDER_LENGTH.items()]
    + [("summarize_deal_sync", summary_context, changes, expected) for changes, expected in SUMMARY]
    + [("analyze_compliance_sync", compliance_context, changes, expected) for changes, expected in COMPLIANCE]
    + [("analyze_order_received_sync", order_context, changes, expected) for changes, expected in ORDER]
    + [("analyze_deal_health_sync", health_context, changes, expected) for changes, expected in HEALTH]
    + [("summarize_notes_sync", notes_context, changes, expected) for changes, expected in NOTES]
)


def case_id(case) -> str:
    method, make, changes, _ = case
    channel = f"[{make().channel.value}]" if method == "draft_reminder_sync" else ""
    return f"{method.removesuffix('_sync')}{channel}:{'+'.join(changes)}"


@pytest.mark.parametrize("method, make, changes, expected", CASES, ids=[case_id(case) for case in CASES])
def test_writer_option_reaches_the_prompt(method, make, changes, expected, answering_writer, llm_server,
                                         prompt_registry):
    writer = answering_writer
    context = make()
    if isinstance(context, DealSummaryContext):  # the A/B variant differs in wording: pin the control
        assert prompt_registry.choose_variant("deal.summarize", context.deal_id).variant == "control"
    getattr(writer, method)(context)
    baseline = sent_text(llm_server.requests[0])
    getattr(writer, method)(make(**changes))
    with_option = sent_text(llm_server.requests[1])
    assert expected in with_option
    assert expected not in baseline


#: Fields that are not options: the reminder's channel picks the prompt itself (tested with
#: every channel above), and ids and deal lists are covered by the service tests.
NOT_OPTIONS = {"channel", "deal_id"}


@pytest.mark.parametrize(
    "context_type, make",
    [(EmailDraftContext, email_context), (ReminderDraftContext, reminder_context),
     (DealSummaryContext, summary_context), (ComplianceContext, compliance_context),
     (OrderReceivedContext, order_context), (DealHealthContext, health_context),
     (NoteSummaryContext, notes_context)],
)
def test_writer_every_context_field_has_an_option_case(context_type, make):
    covered = {name for _, maker, changes, _ in CASES if type(maker()) is context_type for name in changes}
    missing = set(context_type.model_fields) - covered - NOT_OPTIONS
    if context_type is ReminderDraftContext:
        missing -= {"max_length"}  # covered per channel by REMINDER_LENGTH
    if context_type is not ReminderDraftContext:
        missing -= {"deal_id"}
    assert not missing, f"{context_type.__name__} fields without a prompt test: {sorted(missing)}"
