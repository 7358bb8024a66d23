"""Writing jobs as the dashboard's Writer page asks for them: a task over chosen deals, with options.

The page picks a task (summary, health, compliance, order, email, reminder, notes), deals
from a snapshot and a few options; this module turns them into writer contexts (one per
deal, or one email about all of them), runs them in order with progress, renders the
prompt a context would be sent with (for copying into another tool when the LLM is off),
and gives each result as the text a user edits, copies or downloads.

    jobs = build_jobs(store, snapshot_id, ["1001", "1002"], WRITER_TASKS["summary"], WriterOptions())
    drafts = write_all(get_writer_service(), WRITER_TASKS["summary"], jobs, progress=print)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from core.errors import DealcastError
from core.prompts import PromptRegistry
from core.store import Store
from core.writer import tasks
from core.writer.models import (
    Channel,
    DraftEmailResult,
    DraftReminderResult,
    Language,
    Tone,
    Urgency,
    WriterResult,
)
from core.writer.records import CONTEXT_TYPES, build_context, load_deal
from core.writer.service import WriterService

#: Summaries are written this many at a time (one progress step per batch).
SUMMARY_BATCH = 5
#: Most deals a deal search offers at once; a search narrows the rest.
DEAL_CHOICES_LIMIT = 500


@dataclass(frozen=True)
class WriterTask:
    """One kind of writing the page offers."""

    key: str
    label: str
    kind: str                   # the context kind of core.writer.records (CONTEXT_TYPES)
    method: str                 # the WriterService *_sync method that writes one
    task: tasks.Task            # prompt id and variables, for the prompt preview
    stream: str | None = None   # the WriterService *_sync streaming method, when there is one
    one_for_all: bool = False   # one result about every chosen deal (an email), else one per deal

    @property
    def options(self) -> frozenset[str]:
        """The page options this task's context takes (tone, language, channel, urgency, recipients)."""
        return frozenset(WriterOptions.model_fields) & frozenset(CONTEXT_TYPES[self.kind].model_fields)


WRITER_TASKS: dict[str, WriterTask] = {
    task.key: task for task in (
        WriterTask("summary", "Deal summary", "summarize", "summarize_deal_sync", tasks.SUMMARY,
                   stream="stream_deal_summary_sync"),
        WriterTask("health", "Deal health", "health", "analyze_deal_health_sync", tasks.HEALTH),
        WriterTask("compliance", "Compliance check", "compliance", "analyze_compliance_sync",
                   tasks.COMPLIANCE),
        WriterTask("order", "Order Received analysis", "order", "analyze_order_received_sync", tasks.ORDER),
        WriterTask("email", "Follow-up email", "email", "draft_email_sync", tasks.EMAIL,
                   stream="stream_email_body_sync", one_for_all=True),
        WriterTask("reminder", "Reminder (WhatsApp, email, SMS)", "reminder", "draft_reminder_sync",
                   tasks.REMINDER),
        WriterTask("notes", "Notes summary", "notes", "summarize_notes_sync", tasks.NOTES),
    )
}


class WriterOptions(BaseModel):
    """The options the page offers; each task takes the ones its context has."""

    tone: Tone = Tone.PROFESSIONAL
    language: Language = Language.EN
    channel: Channel = Channel.WHATSAPP
    urgency: Urgency = Urgency.MEDIUM
    recipients: list[str] = Field(default_factory=list, description="email: empty means the deal's contact")


@dataclass(frozen=True)
class Job:
    """One thing to write: its title and context, or why no context could be built."""

    title: str
    deal_ids: tuple[str, ...]
    context: BaseModel | None = None
    error: str | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    """The prompt a context is sent with: the version or A/B variant it is assigned, rendered."""

    prompt_id: str
    system: str
    user: str


def deal_choices(store: Store, snapshot_id: int, search: str = "",
                 limit: int = DEAL_CHOICES_LIMIT) -> pd.DataFrame:
    """Deals of a snapshot to pick from (deal_id, label): open deals first, the largest first.

    ``search`` matches the title, organization, stage or id (case-insensitive).
    """
    pattern = f"%{search.strip()}%" if search.strip() else None
    frame = store.query_df(
        """SELECT deal_id, title, stage, organization FROM deals
           WHERE snapshot_id = $snapshot
             AND ($pattern IS NULL OR title ILIKE $pattern OR organization ILIKE $pattern
                  OR stage ILIKE $pattern OR deal_id ILIKE $pattern)
           ORDER BY status = 'open' DESC, value_base DESC NULLS LAST, deal_id
           LIMIT $limit""",
        {"snapshot": snapshot_id, "pattern": pattern, "limit": limit},
    )
    parts = [frame["title"].fillna("(untitled)"), frame["stage"].fillna("no stage"),
             frame["organization"].fillna("")]
    label = parts[0] + " · " + parts[1] + (" · " + parts[2]).where(parts[2] != "", "")
    return pd.DataFrame({"deal_id": frame["deal_id"], "label": label + " · #" + frame["deal_id"]})


def context_options(task: WriterTask, options: WriterOptions) -> dict[str, Any]:
    """The options ``task``'s context takes; an empty recipient list keeps the deal's contact."""
    values = options.model_dump(include=set(task.options))
    if not values.get("recipients"):
        values.pop("recipients", None)
    return values


def build_jobs(store: Store, snapshot_id: int, deal_ids: Sequence[str], task: WriterTask,
               options: WriterOptions) -> list[Job]:
    """The contexts to write, in the order of ``deal_ids`` (one email about all of them).

    A deal whose context cannot be built (no notes for a notes summary, no contact for an
    email) becomes a job with its error, so the others are still written.
    """
    chosen = context_options(task, options)
    groups = [list(deal_ids)] if task.one_for_all else [[deal_id] for deal_id in deal_ids]
    jobs: list[Job] = []
    for group in groups:
        try:
            records = [load_deal(store, deal_id, snapshot_id) for deal_id in group]
        except DealcastError as exc:
            jobs.append(Job(title=", ".join(group), deal_ids=tuple(group), error=str(exc)))
            continue
        title = " + ".join(str(record.get("title") or record.deal_id) for record in records)
        try:
            context = build_context(task.kind, records, chosen)
        except DealcastError as exc:
            jobs.append(Job(title=title, deal_ids=tuple(group), error=str(exc)))
            continue
        jobs.append(Job(title=title, deal_ids=tuple(group), context=context))
    return jobs


def render_job_prompt(registry: PromptRegistry, task: WriterTask, context: BaseModel) -> RenderedPrompt:
    """The prompt the writer would send for ``context`` (same variant, same variables)."""
    key = getattr(context, "assignment_key", None) or ""
    template = registry.choose_variant(task.task.prompt_id(context), key)
    system, user = registry.render_prompt(template, task.task.variables(context))
    return RenderedPrompt(prompt_id=template.pinned_id, system=system, user=user)


Outcome = WriterResult | str  # a result, or why writing it failed


def write_all(writer: WriterService, task: WriterTask, contexts: Sequence[BaseModel],
              progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Write every context in order; ``progress(done, total)`` after each step.

    Summaries go in batches of ``SUMMARY_BATCH`` (written concurrently); other tasks one
    by one. An item that fails is its error text; the others are still written.
    """
    total = len(contexts)
    outcomes: list[Outcome] = []
    step = SUMMARY_BATCH if task.key == "summary" else 1
    for start in range(0, total, step):
        chunk = contexts[start:start + step]
        if task.key == "summary":
            outcomes.extend(writer.batch_summarize_deals_sync(chunk, max_concurrent=SUMMARY_BATCH))
        else:
            try:
                outcomes.append(getattr(writer, task.method)(chunk[0]))
            except DealcastError as exc:
                outcomes.append(str(exc))
        if progress is not None:
            progress(len(outcomes), total)
    return outcomes


def result_text(result: WriterResult) -> str:
    """The text a user edits and sends: an email or reminder as its message, an analysis as
    labelled lines. ``body_html`` is never used: the plain body is the same text."""
    if isinstance(result, DraftEmailResult):
        return f"Subject: {result.subject}\n\n{result.body}"
    if isinstance(result, DraftReminderResult):
        subject = f"Subject: {result.subject}\n\n" if result.subject else ""
        return subject + result.message_text
    return result.as_text()
