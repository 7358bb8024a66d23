"""Writer page: tasks over chosen deals, with the LLM off (templates, warnings, the prompt to copy)
and on (streamed text and checked results from a local chat-completions server, every call logged)."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.prompts import get_prompt_registry
from core.writer import get_writer_service
from core.writer.jobs import WRITER_TASKS, WriterOptions, build_jobs, render_job_prompt, result_text
from tests.pages.conftest import shown
from tests.support.openai_server import Reply
from tests.writer.helpers import ANSWERS

SNAPSHOT = 8  # the newest sample snapshot
WITH_NOTES = ("1263", "1187", "1294")
WITHOUT_NOTES = "1274"


def generate(at, task: str, deals: list[str], **options):
    at.selectbox(key="task").set_value(task).run()
    at.multiselect(key="deals").set_value(deals)
    for key, value in options.items():
        widget = at.toggle(key=key) if key == "stream" else at.selectbox(key=key)
        widget.set_value(value)
    at.run()
    at.button(key="generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def expected(store, task: str, deals: list[str], **options):
    """What the writer itself gives for the same deals and options (LLM off)."""
    writer_task = WRITER_TASKS[task]
    jobs = build_jobs(store, SNAPSHOT, deals, writer_task, WriterOptions(**options))
    method = getattr(get_writer_service(), writer_task.method)
    return writer_task, jobs, [method(job.context) for job in jobs]


def page_text(at) -> str:
    """Everything the page shows, as text (labels, values, code, alerts)."""
    return "\n".join(str(node.proto) for node in _walk(at._tree) if getattr(node, "proto", None) is not None)


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def test_writer_without_data_says_to_load_some(empty_store, open_page):
    at = open_page("writer")

    assert "No deals loaded yet" in at.info[0].value


def test_writer_llm_off_gives_the_template_its_warning_and_the_prompt(sample_store, open_page):
    at = generate(open_page("writer"), "summary", [WITH_NOTES[0]], tone="firm", language="ar")

    task, jobs, (result,) = expected(sample_store, "summary", [WITH_NOTES[0]], tone="firm", language="ar")
    assert result.source == "fallback" and result.confidence == 0.0
    assert at.text_area[0].value == result_text(result)
    assert [shown(w.value) for w in at.warning] == result.warnings
    assert any("LLM off" in warning for warning in result.warnings)
    prompt = render_job_prompt(get_prompt_registry(), task, jobs[0].context)
    codes = [code.value for code in at.code]
    assert prompt.system in codes and prompt.user in codes
    assert "Arabic" in prompt.system and "firm" in prompt.system
    assert at.get("download_button")[0].proto.label == "Download .txt"
    assert "confidence 0.00" in " ".join(caption.value for caption in at.caption)


def test_writer_batch_summaries_keep_the_deal_order(sample_store, open_page):
    deals = list(reversed(WITH_NOTES))

    at = generate(open_page("writer"), "summary", deals)

    _, jobs, results = expected(sample_store, "summary", deals)
    assert [shown(header.value) for header in at.subheader] == [job.title for job in jobs]
    assert [area.value for area in at.text_area] == [result_text(result) for result in results]


def test_writer_email_covers_every_chosen_deal_in_one_draft(sample_store, open_page):
    deals = list(WITH_NOTES[:2])

    at = generate(open_page("writer"), "email", deals, urgency="high")

    _, _, (result,) = expected(sample_store, "email", deals, urgency="high")
    assert len(at.text_area) == 1
    assert at.text_area[0].value == f"Subject: {result.subject}\n\n{result.body}"
    assert result.subject.startswith("Urgent")


def test_writer_reminder_uses_the_chosen_channel(sample_store, open_page):
    at = generate(open_page("writer"), "reminder", [WITH_NOTES[1]], channel="sms")

    _, _, (result,) = expected(sample_store, "reminder", [WITH_NOTES[1]], channel="sms")
    assert result.channel == "sms"
    assert at.text_area[0].value == result.message_text
    assert len(at.text_area[0].value) <= 160


def test_writer_reports_a_deal_it_cannot_write_and_writes_the_others(sample_store, open_page):
    at = generate(open_page("writer"), "notes", [WITHOUT_NOTES, WITH_NOTES[0]])

    assert len(at.error) == 1 and "notes" in at.error[0].value
    assert len(at.text_area) == 1


def test_writer_keeps_results_across_reruns_without_writing_again(sample_store, open_page):
    at = generate(open_page("writer"), "health", [WITH_NOTES[0]])
    first = at.text_area[0].value

    at.text_area[0].set_value(first + "\nEdited by hand.").run()
    at.selectbox(key="language").set_value("ar").run()

    assert at.text_area[0].value == first + "\nEdited by hand."
    assert at.code[0].value == first + "\nEdited by hand."  # the copy block follows the edit


@pytest.fixture
def local_llm(sample_store, monkeypatch, openai_server):
    """The app's LLM on the local server: every prompt gets its valid answer from ANSWERS."""
    registry = get_prompt_registry()
    output_models = {registry.get(prompt_id).output_model: prompt_id for prompt_id in ANSWERS}

    def answer(body: dict) -> Reply:
        system = body["messages"][0]["content"]
        for output_model, prompt_id in output_models.items():
            if f'"title":"{output_model}"' in system.replace('": "', '":"'):
                return Reply.json(ANSWERS[prompt_id])
        # A streamed request carries no schema: answer from the prompt's own wording.
        prompt_id = "email.followup" if '"subject"' in system else "deal.summarize"
        return Reply.json(ANSWERS[prompt_id], chunk_size=7)

    openai_server.responder = answer
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    get_settings.cache_clear()
    return openai_server


def test_writer_streams_the_summary_from_the_llm_and_logs_the_call(local_llm, sample_store, open_page):
    at = generate(open_page("writer"), "summary", [WITH_NOTES[0]])

    assert at.text_area[0].value == ANSWERS["deal.summarize"]["summary"]
    assert [request.body.get("stream") for request in local_llm.requests] == [True]
    calls = sample_store.query_df("SELECT status, prompt_id FROM llm_calls")
    assert calls.to_dict("records") == [{"status": "success", "prompt_id": "deal.summarize"}]
    assert not at.warning


def test_writer_checked_email_shows_text_never_html_and_the_usage_page_counts_it(
        local_llm, sample_store, open_page):
    at = generate(open_page("writer"), "email", list(WITH_NOTES[:2]), stream=False)

    answer = ANSWERS["email.followup"]
    assert at.text_area[0].value == f"Subject: {answer['subject']}\n\n{answer['body']}"
    assert "confidence 0.75" in " ".join(caption.value for caption in at.caption)
    assert "<p>" not in page_text(at)
    assert not local_llm.requests[0].body.get("stream")

    at.switch_page("views/llm_usage.py").run()
    calls, tokens = sample_store.cursor().execute(
        "SELECT count(*), sum(total_tokens) FROM llm_calls").fetchone()
    shown = {metric.label: metric.value for metric in at.metric}
    assert (shown["Calls"], shown["Tokens"]) == (f"{calls:,}", f"{tokens:,}") == ("1", "15")
