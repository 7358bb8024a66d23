"""Checks on a model-written result beyond its schema, each returning plain problem sentences.

The output models (core/prompts/outputs.py) already hold the model to its fields, types and
channel limits, and the LLM client re-asks once when they fail. What only the writer can
check is whether the answer fits the *context* and the rules for the final result: the
language asked for, the summary length asked for, a subject for an email, the channel
limits on the result as delivered. A problem here makes the service ask once more with
the problems stated, then fall back with a warning.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError

from core.errors import validation_problems
from core.prompts.outputs import WHATSAPP_SHORT_MAX_CHARS
from core.writer.models import (
    Channel,
    DealSummaryContext,
    DealSummaryResult,
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    Language,
    NoteSummaryContext,
    NoteSummaryResult,
    ReminderDraftContext,
    WriterResult,
)
from core.writer.text import word_count

_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LETTER = re.compile(r"[^\W\d_]")

#: The fields whose language is checked, per result type: the text a reader sees first.
MAIN_TEXT_FIELDS: dict[type[WriterResult], tuple[str, ...]] = {
    DraftEmailResult: ("subject", "body"),
    DraftReminderResult: ("message_text",),
}
_DEFAULT_MAIN_TEXT = ("summary",)


def length_slack(limit: int) -> int:
    """Words a summary may run over its ``max_length`` (a tenth, at least 5): models count
    words loosely, and re-asking over one word costs more than it saves."""
    return max(5, limit // 10)


def problems_from_error(error: ValidationError) -> list[str]:
    """A Pydantic error as one sentence per failing field."""
    return validation_problems(error, "answer")


def _language_problems(result: WriterResult, language: Language) -> list[str]:
    problems = []
    for name in MAIN_TEXT_FIELDS.get(type(result), _DEFAULT_MAIN_TEXT):
        text = getattr(result, name, None) or ""
        letters = len(_LETTER.findall(text))
        arabic = len(_ARABIC_LETTER.findall(text))
        if not letters:
            continue
        if language is Language.AR and arabic == 0:
            problems.append(f"{name} must be written in Arabic (language=ar), but it has no Arabic text.")
        elif language is Language.EN and arabic * 2 > letters:
            problems.append(f"{name} must be written in English (language=en), but it is mostly Arabic.")
    return problems


def _too_long(name: str, text: str, limit: int, *, words: bool, slack: int = 0) -> list[str]:
    size = word_count(text) if words else len(text)
    unit = "words" if words else "characters"
    return [f"{name} has {size} {unit}; at most {limit} were asked for."] if size > limit + slack else []


def _reminder_problems(result: DraftReminderResult, context: ReminderDraftContext) -> list[str]:
    """Channel rules on the delivered text: every limit here is a hard one, no slack."""
    problems = []
    limit = context.message_limit
    if limit is not None:
        in_words = result.channel is Channel.EMAIL
        problems += _too_long("message_text", result.message_text, limit, words=in_words)
    if result.channel is Channel.WHATSAPP:
        short = result.short_version or ""
        if not short.strip():
            problems.append("short_version is missing; WhatsApp needs one.")
        problems += _too_long("short_version", short, WHATSAPP_SHORT_MAX_CHARS, words=False)
    if result.channel is Channel.EMAIL and not (result.subject or "").strip():
        problems.append("subject is missing; an email reminder needs one.")
    return problems


def result_problems(result: WriterResult, context: BaseModel) -> list[str]:
    """Everything wrong with a model-written result for this context; empty when it is fine."""
    problems = _language_problems(result, getattr(context, "language", Language.EN))
    if isinstance(result, DraftEmailResult) and isinstance(context, EmailDraftContext):
        if not result.subject.strip():
            problems.append("subject is empty; an email needs a subject.")
        if not result.body.strip():
            problems.append("body is empty.")
        problems += _too_long("body", result.body, context.max_length, words=True,
                              slack=length_slack(context.max_length))
    elif isinstance(result, DraftReminderResult) and isinstance(context, ReminderDraftContext):
        problems += _reminder_problems(result, context)
    elif isinstance(result, (NoteSummaryResult, DealSummaryResult)) and isinstance(
        context, (NoteSummaryContext, DealSummaryContext)
    ):
        problems += _too_long("summary", result.summary, context.max_length, words=True,
                              slack=length_slack(context.max_length))
    return problems
