"""Writer: summaries, checks, emails and reminders for chosen deals, with or without the LLM.

Results are written only when **Generate** is pressed and kept in the session, so a rerun
never calls the LLM again. LLM text is shown as plain text (streamed into ``st.text``, then text
areas and code blocks), and deal titles and error messages are escaped: never Markdown, links,
images or HTML. With the LLM off, each result is the writer's template with its warning, and the
prompt is shown for copying into another tool.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import streamlit as st

from core.errors import DealcastError
from core.formatting import plain_markdown
from core.llm import LLMError
from core.prompts import PromptRegistry
from core.writer import get_writer_service
from core.writer.jobs import (
    WRITER_TASKS,
    Job,
    WriterOptions,
    WriterTask,
    build_jobs,
    deal_choices,
    render_job_prompt,
    result_text,
    write_all,
)
from core.writer.models import Channel, Language, Tone, Urgency
from views._common import app_store, llm_client, no_snapshot_notice, sidebar

OUTPUT_KEY = "writer_output"
LANGUAGES = {"en": "English", "ar": "Arabic (العربية)"}


def choose_options(task: WriterTask) -> WriterOptions:
    """The option widgets this task uses; the others keep their defaults."""
    values: dict = {}
    cols = st.columns(4)
    if "tone" in task.options:
        values["tone"] = cols[0].selectbox("Tone", [t.value for t in Tone], key="tone")
    values["language"] = cols[1].selectbox("Language", [lang.value for lang in Language], key="language",
                                           format_func=LANGUAGES.get)
    if "channel" in task.options:
        values["channel"] = cols[2].selectbox("Channel", [c.value for c in Channel], key="channel")
    if "urgency" in task.options:
        values["urgency"] = cols[3].selectbox("Urgency", [u.value for u in Urgency], index=1, key="urgency")
    if "recipients" in task.options:
        names = st.text_input("Recipients (comma separated; empty: the first deal's contact)",
                              key="recipients")
        values["recipients"] = [name.strip() for name in names.split(",") if name.strip()]
    return WriterOptions(**values)


def draft_of(job: Job, outcome, prompt) -> dict:
    """One result as plain session data (the session only holds serialisable values)."""
    draft = {"title": job.title, "deal_ids": list(job.deal_ids), "error": None, "text": "", "warnings": [],
             "source": None, "confidence": None, "prompt": None}
    if isinstance(outcome, str):
        draft["error"] = outcome
    elif outcome is not None:
        draft.update(text=result_text(outcome), warnings=list(outcome.warnings), source=outcome.source,
                     confidence=outcome.confidence)
    if prompt is not None:
        draft["prompt"] = {"id": prompt.prompt_id, "system": prompt.system, "user": prompt.user}
    return draft


def prompt_or_none(registry: PromptRegistry, task: WriterTask, job: Job):
    try:
        return render_job_prompt(registry, task, job.context)
    except DealcastError:
        return None  # the result's own warning already says the prompt could not be used


def stream_as_text(chunks: Iterator[str]) -> str:
    """Show streamed LLM text as it arrives, as plain text (``st.write_stream`` would render it as
    Markdown, so an image in the text would be fetched); return the whole text."""
    box = st.empty()
    text = ""
    for chunk in chunks:
        text += chunk
        box.text(text)
    return text


def generate(task: WriterTask, jobs: list[Job], stream: bool) -> list[dict]:
    """Write every job (streaming the one text when asked), with progress for several."""
    writer = get_writer_service()
    llm_on = llm_client().enabled
    ready = [job for job in jobs if job.context is not None]
    if stream and len(ready) == 1:
        job = ready[0]
        placeholder = st.empty()
        with placeholder.container():
            st.caption(f"Writing {plain_markdown(job.title)}…")
            try:
                text = stream_as_text(getattr(writer, task.stream)(job.context))
            except LLMError as exc:
                text = None
                st.error(f"The LLM stopped while writing: {plain_markdown(exc)}")
        placeholder.empty()
        if text is None:
            return [draft_of(job, "The LLM stopped while writing; try again or turn streaming off.", None)]
        draft = draft_of(job, None, None)
        draft.update(text=text, source="llm (streamed)")
        return [draft]
    bar = st.progress(0.0, text=f"Writing 0 of {len(ready)}…") if len(ready) > 1 else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(done / total, text=f"Writing {done} of {total}…")

    outcomes = iter(write_all(writer, task, [job.context for job in ready], progress=progress))
    if bar is not None:
        bar.empty()
    registry = None if llm_on else writer.registry
    drafts = []
    for job in jobs:
        if job.context is None:
            drafts.append(draft_of(job, job.error, None))
            continue
        prompt = prompt_or_none(registry, task, job) if registry is not None else None
        drafts.append(draft_of(job, next(outcomes), prompt))
    return drafts


def file_name(task: WriterTask, draft: dict) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", "-".join(draft["deal_ids"]))[:60].strip("-")
    return f"{task.key}-{slug or 'deal'}.txt"


def show(task: WriterTask, output: dict) -> None:
    for number, draft in enumerate(output["drafts"]):
        st.subheader(plain_markdown(draft["title"]))
        if draft["error"]:
            st.error(plain_markdown(draft["error"]))
            continue
        if draft["confidence"] is not None:
            st.caption(f"Source: {draft['source']} · confidence {draft['confidence']:.2f}")
        else:
            st.caption(f"Source: {draft['source']}")
        for warning in draft["warnings"]:
            st.warning(plain_markdown(warning))
        key = f"draft:{output['id']}:{number}"
        text = st.text_area("Result (editable)", value=draft["text"], key=key, height=260)
        left, right = st.columns([1, 4])
        left.download_button("Download .txt", data=text.encode("utf-8"), file_name=file_name(task, draft),
                             mime="text/plain", key=f"download:{output['id']}:{number}")
        with right.expander("Copy"):
            st.code(text, language=None, wrap_lines=True)
        if draft["prompt"]:
            with st.expander(f"Prompt ({draft['prompt']['id']}) to use with another LLM"):
                st.markdown("System prompt")
                st.code(draft["prompt"]["system"], language=None, wrap_lines=True)
                st.markdown("User prompt")
                st.code(draft["prompt"]["user"], language=None, wrap_lines=True)


store = app_store()
snapshot = sidebar(store)
st.title("Writer")
if snapshot is None:
    no_snapshot_notice()
else:
    client = llm_client()
    if not client.enabled:
        st.info(f"LLM off: results are templates and extracts from the deal's facts and notes (confidence "
                f"0), each with its prompt to copy into another tool. {client.disabled_reason}")
    task_labels = {key: task.label for key, task in WRITER_TASKS.items()}
    task_key = st.selectbox("Task", list(task_labels), format_func=task_labels.get, key="task")
    task = WRITER_TASKS[task_key]
    search = st.text_input("Find deals (title, organization, stage or id)", key="deal_search")
    choices = deal_choices(store, snapshot.id, search)
    labels = dict(zip(choices["deal_id"], choices["label"], strict=True))
    picked = [deal for deal in st.session_state.get("deals", []) if deal not in labels]
    labels.update({deal: f"#{deal}" for deal in picked})
    deals = st.multiselect("Deals", list(labels), format_func=labels.get, key="deals",
                           placeholder="Choose one or more deals")
    options = choose_options(task)
    streamable = client.enabled and task.stream is not None and (task.one_for_all or len(deals) <= 1)
    stream = st.toggle("Show the text as it is written", value=True, key="stream", disabled=not streamable,
                       help="Streams the email body or summary; off gives the checked result with warnings.")
    if st.button("Generate", key="generate", type="primary", disabled=not deals):
        jobs = build_jobs(store, snapshot.id, deals, task, options)
        drafts = generate(task, jobs, stream and streamable)
        # A fresh id per run gives the result boxes new keys, so they show the new text.
        st.session_state[OUTPUT_KEY] = {"id": uuid.uuid4().hex[:12], "task": task.key, "drafts": drafts}
    if not deals and OUTPUT_KEY not in st.session_state:
        st.caption("Choose deals, set the options and press Generate.")
    output = st.session_state.get(OUTPUT_KEY)
    if output:
        show(WRITER_TASKS[output["task"]], output)
