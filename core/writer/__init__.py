"""The writer: summaries, checks, emails and reminders for deals, with or without an LLM.

    writer = get_writer_service()
    result = writer.summarize_deal_sync(DealSummaryContext(deal_id="4821", title="Lobby", notes=text))
    result.summary, result.confidence, result.source, result.warnings

Modules: models (contexts and results), service (WriterService), tasks (context -> prompt
variables -> result, per kind of writing), fallbacks (results without an LLM), health
(days-in-stage thresholds, communication gap), validation (checks beyond the schema),
sanitize (body_html), streaming (one field of a JSON reply as it arrives), records
(contexts from stored deals), text (sentence and cue helpers).
"""

from core.writer.models import (
    Channel,
    CommunicationGap,
    ComplianceContext,
    ComplianceResult,
    DealFacts,
    DealHealthContext,
    DealHealthResult,
    DealSummaryContext,
    DealSummaryResult,
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    HealthStatus,
    Language,
    Note,
    NoteSummaryContext,
    NoteSummaryResult,
    OrderReceivedContext,
    OrderReceivedResult,
    ReminderDraftContext,
    StageChange,
    StageThreshold,
    TextFormat,
    Tone,
    Urgency,
    WriterResult,
)
from core.writer.records import build_context, load_deal
from core.writer.service import WriterService, get_writer_service

__all__ = [
    "Channel",
    "CommunicationGap",
    "ComplianceContext",
    "ComplianceResult",
    "DealFacts",
    "DealHealthContext",
    "DealHealthResult",
    "DealSummaryContext",
    "DealSummaryResult",
    "DraftEmailResult",
    "DraftReminderResult",
    "EmailDraftContext",
    "HealthStatus",
    "Language",
    "Note",
    "NoteSummaryContext",
    "NoteSummaryResult",
    "OrderReceivedContext",
    "OrderReceivedResult",
    "ReminderDraftContext",
    "StageChange",
    "StageThreshold",
    "TextFormat",
    "Tone",
    "Urgency",
    "WriterResult",
    "WriterService",
    "build_context",
    "get_writer_service",
    "load_deal",
]
