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

from core.writer import models
from core.writer.models import *  # noqa: F403  (the contexts and results: models.__all__)
from core.writer.records import build_context, load_deal
from core.writer.service import WriterService, get_writer_service

__all__ = [*models.__all__, "WriterService", "build_context", "get_writer_service", "load_deal"]
