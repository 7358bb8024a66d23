"""Writing jobs for the Writer page: deal choices, contexts from options, order, progress, texts."""

from __future__ import annotations

import pytest

from core.bootstrap import sample_files
from core.ingest import ingest_file
from core.store import Store
from core.writer.jobs import (
    WRITER_TASKS,
    WriterOptions,
    build_jobs,
    context_options,
    deal_choices,
    render_job_prompt,
    result_text,
    write_all,
)
from core.writer.models import Channel, Language, Tone, Urgency
from tests.writer.helpers import ANSWERS, email_context, reminder_context, summary_context


@pytest.fixture(scope="module")
def sample():
    """The newest export of the bundled sample, loaded once for these read-only tests."""
    with Store(":memory:") as store:
        result = ingest_file(store, sample_files()[-1], source="pipedrive")
        yield store, result.snapshot_id


def test_every_task_names_a_writer_method_and_its_options():
    assert set(WRITER_TASKS) == {"summary", "health", "compliance", "order", "email", "reminder", "notes"}
    assert WRITER_TASKS["reminder"].options == {"tone", "language", "channel", "urgency"}
    assert WRITER_TASKS["email"].options == {"tone", "language", "urgency", "recipients"}
    assert WRITER_TASKS["compliance"].options == {"language"}
    assert [key for key, task in WRITER_TASKS.items() if task.stream] == ["summary", "email"]


def test_context_options_keep_what_the_task_takes_and_the_deal_contact_by_default():
    options = WriterOptions(tone=Tone.FIRM, language=Language.AR, channel=Channel.SMS, urgency=Urgency.HIGH)

    assert context_options(WRITER_TASKS["reminder"], options) == {
        "tone": "firm", "language": "ar", "channel": "sms", "urgency": "high"}
    email = WRITER_TASKS["email"]
    assert context_options(email, options) == {"tone": "firm", "language": "ar", "urgency": "high"}
    named = options.model_copy(update={"recipients": ["Faisal"]})
    assert context_options(email, named)["recipients"] == ["Faisal"]


def test_deal_choices_put_open_deals_first_and_search_every_label_part(sample):
    store, snapshot = sample

    choices = deal_choices(store, snapshot)
    statuses = store.query_df(
        "SELECT deal_id, status FROM deals WHERE snapshot_id = ?", [snapshot]).set_index("deal_id")["status"]
    ordered = statuses[choices["deal_id"]].tolist()
    assert ordered == sorted(ordered, key=lambda status: status != "open")
    assert len(choices) == len(statuses)
    assert choices.set_index("deal_id").loc["1263", "label"] == (
        "Gypsum ceiling works - Ras Tanura · Awaiting Site Readiness · "
        + store.query_df("SELECT organization FROM deals WHERE snapshot_id = ? AND deal_id = '1263'",
                         [snapshot]).iloc[0, 0] + " · #1263")
    assert set(deal_choices(store, snapshot, "ras tanura")["deal_id"]) >= {"1263", "1134"}
    assert deal_choices(store, snapshot, "1263")["deal_id"].tolist() == ["1263"]
    assert len(deal_choices(store, snapshot, limit=5)) == 5


def test_build_jobs_one_per_deal_in_order_or_one_email_for_all(sample):
    store, snapshot = sample

    summaries = build_jobs(store, snapshot, ["1187", "1263"], WRITER_TASKS["summary"],
                           WriterOptions(tone=Tone.FRIENDLY))
    email = build_jobs(store, snapshot, ["1187", "1263"], WRITER_TASKS["email"], WriterOptions())

    assert [job.deal_ids for job in summaries] == [("1187",), ("1263",)]
    assert [job.context.deal_id for job in summaries] == ["1187", "1263"]
    assert summaries[0].context.tone == Tone.FRIENDLY
    assert len(email) == 1 and [deal.deal_id for deal in email[0].context.deal_contexts] == ["1187", "1263"]
    assert email[0].title == "Raised floor - Riyadh + Gypsum ceiling works - Ras Tanura"


def test_build_jobs_keeps_a_deal_it_cannot_use_as_an_error(sample):
    store, snapshot = sample

    jobs = build_jobs(store, snapshot, ["1274", "nope", "1263"], WRITER_TASKS["notes"], WriterOptions())

    assert [job.context is None for job in jobs] == [True, True, False]
    assert "Cannot build the notes context: notes" in jobs[0].error
    assert "No deal 'nope'" in jobs[1].error


def test_write_all_reports_progress_and_keeps_order(offline_writer):
    contexts = [summary_context(deal_id=str(n)) for n in range(7)]
    steps: list[tuple[int, int]] = []

    outcomes = write_all(offline_writer, WRITER_TASKS["summary"], contexts,
                         progress=lambda *step: steps.append(step))

    assert [outcome.deal_id for outcome in outcomes] == [str(n) for n in range(7)]
    assert steps == [(5, 7), (7, 7)]
    assert all(outcome.source == "fallback" for outcome in outcomes)


def test_write_all_writes_other_tasks_one_by_one_with_the_llm(answering_writer):
    contexts = [reminder_context(channel="sms"), reminder_context(channel="email")]
    steps: list[tuple[int, int]] = []

    outcomes = write_all(answering_writer, WRITER_TASKS["reminder"], contexts,
                         progress=lambda *step: steps.append(step))

    assert steps == [(1, 2), (2, 2)]
    assert [outcome.message_text for outcome in outcomes] == [
        ANSWERS["reminder.sms"]["message_text"], ANSWERS["reminder.email"]["message_text"]]


def test_result_text_is_the_message_for_drafts_and_labelled_lines_for_analyses(answering_writer):
    email = answering_writer.draft_email_sync(email_context())
    reminder = answering_writer.draft_reminder_sync(reminder_context(channel="email"))
    summary = answering_writer.summarize_deal_sync(summary_context())

    assert result_text(email) == f"Subject: {email.subject}\n\n{email.body}"
    assert "<p>" not in result_text(email)
    assert result_text(reminder) == f"Subject: {reminder.subject}\n\n{reminder.message_text}"
    assert result_text(summary).startswith("[llm, confidence 0.80, en]\nDeal id: 4821\nSummary: The site")


def test_render_job_prompt_is_what_the_writer_sends(writer, llm_server, prompt_registry):
    context = summary_context(deal_id="4821", tone="firm")

    prompt = render_job_prompt(prompt_registry, WRITER_TASKS["summary"], context)
    writer.summarize_deal_sync(context)

    sent = llm_server.requests[-1].body["messages"]
    assert prompt.prompt_id == prompt_registry.choose_variant("deal.summarize", "4821").pinned_id
    assert sent[0]["content"].startswith(prompt.system)
    assert sent[1]["content"] == prompt.user
