"""What the writer tests share: model answers per prompt, contexts, and a look at requests."""

from __future__ import annotations

from core.writer.models import (
    ComplianceContext,
    DealHealthContext,
    DealSummaryContext,
    EmailDraftContext,
    NoteSummaryContext,
    OrderReceivedContext,
    ReminderDraftContext,
)

#: A key that must never show up in a result, warning or output.
SECRET_KEY = "sk-test-writer-secret-0123456789"

#: One valid answer per prompt, as the model would write it.
ANSWERS = {
    "deal.summarize": {
        "summary": "The site is not ready; the client has not confirmed a handover date.",
        "next_action": "Omar calls Khalid to fix the handover date.",
        "blockers": ["Site not handed over"], "missing_info": ["Handover date"],
        "recommendations": ["Ask for a written handover date"], "confidence": 0.8,
    },
    "deal.compliance_check": {
        "survey_checklist_present": True, "quality_docs_present": False,
        "missing_items": ["Method statement"], "comment": "Survey is on file; QA documents are not.",
        "confidence": 0.7,
    },
    "deal.order_received_analysis": {
        "end_user_identified": True, "end_user_requests_count": 2, "missing_items": [], "confidence": 0.9,
    },
    "deal.health_analysis": {
        "health_status": "at_risk", "status_flag": "Stalled 20 days: site not handed over",
        "summary": "Past the warning mark for its stage.", "blockers": ["Site readiness"],
        "attribution": "The client: the site is not handed over.",
        "communication_assessment": "Recent and useful.", "recommended_action": "Escalate to the client PM.",
        "confidence": 0.6,
    },
    "email.followup": {
        "subject": "Handover date for the lobby fit-out",
        "body": "Dear Khalid,\n\nCould you confirm the date?",
        "body_html": "<p>Dear Khalid,</p><p>Could you confirm the date?</p>",
        "suggested_followups": ["Call on Sunday"], "confidence": 0.75,
    },
    "reminder.whatsapp": {
        "message_text": "Hello Khalid, a reminder about the lobby handover date.",
        "short_version": "Lobby handover date?", "tags": ["site-readiness"], "confidence": 0.7,
    },
    "reminder.email": {
        "subject": "Reminder: lobby handover",
        "message_text": "Dear Khalid, please confirm the handover date.",
        "tags": ["site-readiness"], "confidence": 0.7,
    },
    "reminder.sms": {
        "message_text": "Lobby fit-out: please confirm the handover date by 1 Feb.",
        "tags": ["site-readiness"], "confidence": 0.7,
    },
    "notes.summarize": {
        "summary": "- Survey done\n- Waiting for site readiness", "action_items": ["Omar calls Khalid"],
        "owners": ["Omar"], "confidence": 0.8,
    },
}


NOTES = (
    "2026-01-05 Sara: Site survey done, checklist attached.\n"
    "2026-01-12 Omar: Waiting for the client to confirm site readiness.\n"
    "2026-01-14 Omar: Omar will call Khalid on Sunday to agree the start date."
)


def summary_context(**changes) -> DealSummaryContext:
    values = {"deal_id": "4821", "title": "Lobby fit-out", "stage": "Awaiting Site Readiness",
              "owner": "Omar", "days_in_stage": 20, "notes": NOTES}
    return DealSummaryContext(**{**values, **changes})


def compliance_context(**changes) -> ComplianceContext:
    return ComplianceContext(**{"deal_id": "4821", "title": "Lobby fit-out", "notes": NOTES, **changes})


def order_context(**changes) -> OrderReceivedContext:
    values = {"deal_id": "4821", "title": "Lobby fit-out", "stage": "Order Received", "notes": NOTES}
    return OrderReceivedContext(**{**values, **changes})


def health_context(**changes) -> DealHealthContext:
    values = {"deal_id": "4821", "title": "Lobby fit-out", "stage": "Awaiting Site Readiness",
              "days_in_stage": 20, "days_since_last_note": 3, "notes": NOTES}
    return DealHealthContext(**{**values, **changes})


def email_context(**changes) -> EmailDraftContext:
    values = {"recipients": ["Khalid"], "subject_intent": "ask for the handover date",
              "deal_contexts": [{"deal_id": "4821", "title": "Lobby fit-out",
                                 "stage": "Awaiting Site Readiness", "notes": NOTES}]}
    return EmailDraftContext(**{**values, **changes})


def reminder_context(**changes) -> ReminderDraftContext:
    values = {"deal_id": "4821", "deal_title": "Lobby fit-out", "stage": "Awaiting Site Readiness",
              "context": "the handover date", "due_date": "2026-02-01"}
    return ReminderDraftContext(**{**values, **changes})


def notes_context(**changes) -> NoteSummaryContext:
    return NoteSummaryContext(**{"deal_id": "4821", "notes": NOTES, **changes})


def sent_text(request) -> str:
    """Everything a recorded request sent the model: system and user messages joined."""
    return "\n".join(message["content"] for message in request.body["messages"])
