"""One ``Task`` per kind of writing: which prompt, which variables, how to build the result.

A task is the seam between a context, a prompt and a result: ``variables`` puts every
option of the context into the prompt's variables, ``build`` turns the model's validated
answer into the result model (ids and rule-based facts from the context, never from the
answer), and ``fallback`` builds the result without a model. The service runs any task
the same way, so each rule (re-ask, fallback, outcome recording) is written once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from core.writer import fallbacks, health
from core.writer.models import (
    ComplianceContext,
    ComplianceResult,
    DealHealthContext,
    DealHealthResult,
    DealSummaryContext,
    DealSummaryResult,
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    Language,
    Note,
    NoteSummaryContext,
    NoteSummaryResult,
    OrderReceivedContext,
    OrderReceivedResult,
    ReminderDraftContext,
    WriterResult,
)
from core.writer.sanitize import sanitize_html, text_to_html
from core.writer.text import truncate_chars

ContextT = TypeVar("ContextT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=WriterResult)

#: Notes handed to a prompt: at most this many (the most recent; each prompt then shows its
#: own ``max_notes``), each cut to this many characters, so a deal with years of notes
#: cannot blow the token budget.
MAX_PROMPT_NOTES = 100
MAX_NOTE_CHARS = 600

#: Result fields the service sets itself; an answer's keys of these names are ignored.
_SERVICE_FIELDS = frozenset({"confidence", "warnings", "source", "language"})


@dataclass(frozen=True)
class Task(Generic[ContextT, ResultT]):
    """How one kind of context becomes one kind of result."""

    kind: str
    prompt_id: Callable[[ContextT], str]
    variables: Callable[[ContextT], dict[str, Any]]
    build: Callable[[dict[str, Any], ContextT], ResultT]
    fallback: Callable[[ContextT, str], ResultT]


def notes_payload(notes: list[Note]) -> list[dict[str, str | None]]:
    """The most recent notes as plain dicts for a template, oldest first."""
    recent = fallbacks.recent_notes(notes, MAX_PROMPT_NOTES)
    return [
        {
            "date": note.date.isoformat() if note.date else None,
            "author": note.author,
            "text": truncate_chars(note.text, MAX_NOTE_CHARS),
        }
        for note in recent
    ]


def context_variables(context: BaseModel, names: tuple[str, ...]) -> dict[str, Any]:
    """A context's fields as prompt variables: options by their value, dates as YYYY-MM-DD,
    notes as ``notes_payload`` gives them, the rest as they are."""
    variables: dict[str, Any] = {}
    for name in names:
        value = getattr(context, name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif name == "notes":
            value = notes_payload(value)
        variables[name] = value
    return variables


def from_answer(
    result_type: type[ResultT], answer: dict[str, Any], confidence: float, **known: Any
) -> ResultT:
    """The result from the model's answer: only the result's own fields are read from it,
    and ``known`` (ids, language, facts the service computed) always wins."""
    values = {
        name: answer[name]
        for name in result_type.model_fields
        if name in answer and name not in _SERVICE_FIELDS and name not in known
    }
    return result_type.model_validate(
        {**values, **known, "confidence": confidence, "source": "llm", "warnings": []}
    )


# -- email -----------------------------------------------------------------------------------


def _email_variables(context: EmailDraftContext) -> dict[str, Any]:
    return {
        **context_variables(context, (
            "language", "tone", "urgency", "format", "max_length", "due_date", "max_notes", "recipients",
            "recipient_role", "subject_intent", "constraints", "sender_name",
        )),
        "deal_contexts": [
            {**deal.model_dump(mode="json", exclude={"notes"}), "notes": notes_payload(deal.notes)}
            for deal in context.deal_contexts
        ],
    }


def _email_build(answer: dict[str, Any], context: EmailDraftContext) -> DraftEmailResult:
    body = str(answer.get("body") or "")
    html = sanitize_html(answer.get("body_html")) or text_to_html(body)
    return from_answer(
        DraftEmailResult, answer, answer["confidence"],
        deal_ids=[deal.deal_id for deal in context.deal_contexts if deal.deal_id], body_html=html,
        language=context.language,
    )


EMAIL = Task("email", lambda _: "email.followup", _email_variables, _email_build, fallbacks.fallback_email)

# -- reminders --------------------------------------------------------------------------------


def _reminder_variables(context: ReminderDraftContext) -> dict[str, Any]:
    return context_variables(context, (
        "language", "tone", "urgency", "recipient_role", "recipient_name", "sender_name", "deal_id",
        "deal_title", "stage", "context", "due_date", "max_length", "constraints",
    ))


def _reminder_build(answer: dict[str, Any], context: ReminderDraftContext) -> DraftReminderResult:
    return from_answer(
        DraftReminderResult, answer, answer["confidence"],
        deal_id=context.deal_id, channel=context.channel, language=context.language,
    )


REMINDER = Task(
    "reminder", lambda context: f"reminder.{context.channel.value}",
    _reminder_variables, _reminder_build, fallbacks.fallback_reminder,
)

# -- deal summary -------------------------------------------------------------------------------


def _summary_variables(context: DealSummaryContext) -> dict[str, Any]:
    return context_variables(context, (
        "language", "tone", "format", "max_length", "constraints", "deal_id", "title", "stage", "owner",
        "days_in_stage", "value", "currency", "organization", "notes", "max_notes", "include_blockers",
        "include_recommendations",
    ))


def _with_switches(result_type: type[ResultT], answer: dict[str, Any], context: Any,
                   switches: dict[str, tuple[bool, Any]]) -> ResultT:
    """``result_type`` from the answer, id and language from the context; a field whose switch
    is off (``switches[name] = (on, value when off)``) gets its off value, whatever the model said."""
    off = {name: value for name, (on, value) in switches.items() if not on}
    return from_answer(
        result_type, answer, answer["confidence"], deal_id=context.deal_id, language=context.language, **off
    )


def _summary_build(answer: dict[str, Any], context: DealSummaryContext) -> DealSummaryResult:
    return _with_switches(DealSummaryResult, answer, context, {
        "blockers": (context.include_blockers, []),
        "recommendations": (context.include_recommendations, []),
    })


SUMMARY = Task(
    "summary", lambda _: "deal.summarize",
    _summary_variables, _summary_build, fallbacks.fallback_deal_summary,
)

# -- compliance and order received ---------------------------------------------------------------


def _compliance_variables(context: ComplianceContext) -> dict[str, Any]:
    return context_variables(context, (
        "language", "deal_id", "title", "stage", "notes", "check_survey_checklist", "check_quality_docs",
        "check_custom_fields", "custom_fields",
    ))


def _compliance_build(answer: dict[str, Any], context: ComplianceContext) -> ComplianceResult:
    return _with_switches(ComplianceResult, answer, context, {
        "survey_checklist_present": (context.check_survey_checklist, None),
        "quality_docs_present": (context.check_quality_docs, None),
    })


COMPLIANCE = Task(
    "compliance", lambda _: "deal.compliance_check",
    _compliance_variables, _compliance_build, fallbacks.fallback_compliance,
)


def _order_variables(context: OrderReceivedContext) -> dict[str, Any]:
    return context_variables(context, (
        "language", "deal_id", "title", "stage", "organization", "contact", "value", "currency",
        "days_in_stage", "notes",
    ))


def _order_build(answer: dict[str, Any], context: OrderReceivedContext) -> OrderReceivedResult:
    return from_answer(
        OrderReceivedResult, answer, answer["confidence"], deal_id=context.deal_id, language=context.language,
    )


ORDER = Task(
    "order", lambda _: "deal.order_received_analysis",
    _order_variables, _order_build, fallbacks.fallback_order_received,
)

# -- health ------------------------------------------------------------------------------------------


def _health_variables(context: DealHealthContext) -> dict[str, Any]:
    """The deal, the thresholds the rules use (one table for rules and model), and the
    rules' own verdict with its reasons, so the model starts from the same facts."""
    rules, reasons = fallbacks.health_reasons(
        Language.EN, context.stage, context.days_in_stage, context.days_since_last_note
    )
    return {
        **context_variables(context, (
            "language", "tone", "deal_id", "title", "stage", "days_in_stage", "owner", "value", "currency",
            "last_activity", "days_since_last_note", "notes",
        )),
        "stage_history": [change.model_dump(mode="json") for change in context.stage_history],
        "health_thresholds": [
            {"stage": stage, "warning": warning, "critical": critical}
            for stage, warning, critical in health.THRESHOLD_TABLE
        ],
        "communication_bands": {
            "acceptable_from": health.GAP_ACCEPTABLE_FROM,
            "warning_from": health.GAP_WARNING_FROM,
            "gap_over": health.GAP_OVER,
        },
        "rule_status": rules.status.value,
        "rule_reasons": reasons,
    }


def _health_build(answer: dict[str, Any], context: DealHealthContext) -> DealHealthResult:
    rules = health.assess_health(context.stage, context.days_in_stage, context.days_since_last_note)
    return from_answer(
        DealHealthResult, answer, answer["confidence"],
        deal_id=context.deal_id, language=context.language,
        days_in_stage=context.days_in_stage, stage_threshold=rules.threshold,
        days_since_last_note=context.days_since_last_note, communication_gap=rules.gap,
    )


HEALTH = Task(
    "health", lambda _: "deal.health_analysis",
    _health_variables, _health_build, fallbacks.fallback_deal_health,
)

# -- notes ---------------------------------------------------------------------------------------------


def _notes_variables(context: NoteSummaryContext) -> dict[str, Any]:
    return context_variables(context, (
        "language", "deal_id", "title", "notes", "max_notes", "format", "max_length", "extract_action_items",
    ))


def _notes_build(answer: dict[str, Any], context: NoteSummaryContext) -> NoteSummaryResult:
    switched_off: dict[str, Any] = {} if context.extract_action_items else {"action_items": [], "owners": []}
    return from_answer(
        NoteSummaryResult, answer, answer["confidence"],
        deal_id=context.deal_id, format=context.format, language=context.language, **switched_off,
    )


NOTES = Task(
    "notes", lambda _: "notes.summarize", _notes_variables, _notes_build, fallbacks.fallback_note_summary,
)
