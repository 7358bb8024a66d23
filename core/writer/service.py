"""WriterService: contexts in, written results out, with or without an LLM.

Every method follows one path (``_run``): if the LLM is off, the fallback; else render the
task's prompt with every option of the context, ask for the prompt's output model, build
the result (ids from the context), check it beyond the schema, re-ask once with the
problems stated, and fall back with a warning when the answer is still wrong or the call
fails. The fallback is useful on its own (core/writer/fallbacks.py) and always says why.

The methods are async; each has a ``*_sync`` twin for the command line and Streamlit,
which runs it on the LLM client's background event loop (``run_sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from core.llm import LLMClient, LLMError, LLMResponse, LLMValidationError, Usage, get_llm_client, run_sync
from core.prompts import PromptError, PromptRegistry, PromptTemplate, get_prompt_registry
from core.writer import tasks
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
    NoteSummaryContext,
    NoteSummaryResult,
    OrderReceivedContext,
    OrderReceivedResult,
    ReminderDraftContext,
)
from core.writer.streaming import JsonFieldStream
from core.writer.tasks import Task
from core.writer.validation import problems_from_error, result_problems

JSON_OBJECT = {"type": "json_object"}
REASK = (
    "\n\nYour previous answer was rejected for these reasons:\n{problems}\n"
    "Answer again with the same JSON fields, fixing every problem listed."
)


def off_reason(client: LLMClient) -> str:
    """Why there is no LLM, for a warning: 'LLM off: ' and the client's reason."""
    return f"LLM off: {client.disabled_reason or 'not configured'}"


def failure_reason(exc: LLMError) -> str:
    """Why a call failed, for a warning: the error class and its message (the client has
    already removed any secret from the message)."""
    return f"LLM failed ({type(exc).__name__}: {exc})"


def prompt_failure(task: Task, context: Any, exc: PromptError) -> str:
    return f"Prompt {task.prompt_id(context)} could not be used ({exc})"


class WriterService:
    """Drafts and analyses for deals. Build one with an explicit client and registry in
    tests; ``get_writer_service()`` gives the process-wide one built from settings."""

    def __init__(self, client: LLMClient | None = None, registry: PromptRegistry | None = None) -> None:
        self._client = client
        self._registry = registry

    @property
    def client(self) -> LLMClient:
        return self._client or get_llm_client()

    @property
    def registry(self) -> PromptRegistry:
        return self._registry or get_prompt_registry()

    # -- one method per kind of writing ------------------------------------------------------

    async def draft_email(self, context: EmailDraftContext) -> DraftEmailResult:
        """A follow-up email (subject, body, sanitised body_html, suggested follow-ups)."""
        return await self._run(tasks.EMAIL, context)

    async def draft_reminder(self, context: ReminderDraftContext) -> DraftReminderResult:
        """A WhatsApp, email or SMS reminder within its channel's limits."""
        return await self._run(tasks.REMINDER, context)

    async def summarize_deal(self, context: DealSummaryContext) -> DealSummaryResult:
        """Where a deal stands, its blockers, missing information and the next action."""
        return await self._run(tasks.SUMMARY, context)

    async def analyze_compliance(self, context: ComplianceContext) -> ComplianceResult:
        """Whether the survey checklist, quality documents and custom fields are on file."""
        return await self._run(tasks.COMPLIANCE, context)

    async def analyze_order_received(self, context: OrderReceivedContext) -> OrderReceivedResult:
        """Whether an Order Received deal names its end user, and their requests."""
        return await self._run(tasks.ORDER, context)

    async def analyze_deal_health(self, context: DealHealthContext) -> DealHealthResult:
        """Health against the days-in-stage thresholds and communication gap."""
        return await self._run(tasks.HEALTH, context)

    async def summarize_notes(self, context: NoteSummaryContext) -> NoteSummaryResult:
        """A summary of notes as bullets or a paragraph, with action items and owners."""
        return await self._run(tasks.NOTES, context)

    async def batch_summarize_deals(
        self, contexts: Sequence[DealSummaryContext], max_concurrent: int = 5
    ) -> list[DealSummaryResult]:
        """Summaries of many deals, at most ``max_concurrent`` at a time, in input order.

        No item is dropped: an LLM failure gives the fallback with a warning, like
        ``summarize_deal``, and so does a summary that raised (its warning names the error,
        so one bad deal cannot sink the batch).
        """
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, not {max_concurrent}")
        gate = asyncio.Semaphore(max_concurrent)

        async def one(context: DealSummaryContext) -> DealSummaryResult:
            async with gate:
                try:
                    return await self.summarize_deal(context)
                except Exception as exc:  # reported on its item, so one bad deal cannot sink the batch
                    return tasks.SUMMARY.fallback(context, f"Summary failed ({type(exc).__name__}: {exc})")

        return list(await asyncio.gather(*(one(context) for context in contexts)))

    # -- streaming ---------------------------------------------------------------------------

    def stream_email_body(self, context: EmailDraftContext) -> AsyncIterator[str]:
        """The email body as the model writes it, chunk by chunk (same prompt as draft_email).

        When the LLM is off, or fails before the first chunk, the fallback body comes as
        one chunk; a failure after text has been sent raises the LLMError. The stream is
        for display: ``draft_email`` gives the checked result with subject and warnings.
        """
        return self._stream(tasks.EMAIL, context, "body")

    def stream_deal_summary(self, context: DealSummaryContext) -> AsyncIterator[str]:
        """The deal summary as the model writes it (fallbacks as for the email body)."""
        return self._stream(tasks.SUMMARY, context, "summary")

    # -- the one path every method takes ------------------------------------------------------

    def _prompt(self, task: Task, context: Any) -> tuple[PromptTemplate, str, str]:
        """The prompt version or A/B variant this context is assigned to, rendered."""
        template = self.registry.choose_variant(task.prompt_id(context), context.assignment_key or "")
        system, user = self.registry.render_prompt(template, task.variables(context))
        return template, system, user

    async def _run(self, task: Task[Any, Any], context: Any) -> Any:
        client = self.client
        if not client.enabled:
            return task.fallback(context, off_reason(client))
        try:
            template, system, user = self._prompt(task, context)
        except PromptError as exc:
            return task.fallback(context, prompt_failure(task, context, exc))
        config = template.config
        schema = self.registry.output_model(template)
        feedback = ""
        problems: list[str] = []
        responses: list[LLMResponse] = []
        refused: LLMValidationError | None = None  # the last answer's, when its JSON did not fit
        # One question and at most one re-ask in all: the client's own re-ask is off, so an
        # answer refused for its schema or for the checks below costs one more request, not three.
        for _ in range(2):
            try:
                answer = await client.generate_structured_completion_with_response(
                    schema, system_prompt=system, user_prompt=user + feedback,
                    tier=config.tier, temperature=config.temperature, max_tokens=config.max_tokens,
                    prompt_id=config.id, prompt_version=config.version, variant=config.variant,
                    # The client caches every schema-valid reply, including one rejected here: a
                    # re-ask must reach the model, or a repeated call would replay both rejections.
                    use_cache=not feedback, reask=False,
                )
            except LLMValidationError as exc:
                if exc.response is not None:
                    responses.append(exc.response)
                refused = exc
                problems = [f"the answer did not fit the JSON fields asked for: {exc.message}"]
            except LLMError as exc:
                self._record(template, context, responses, success=False)
                return task.fallback(context, failure_reason(exc))
            else:
                refused = None
                responses.append(answer.response)
                try:
                    result = task.build(answer.data.model_dump(mode="json"), context)
                    problems = result_problems(result, context)
                except ValidationError as exc:
                    problems = problems_from_error(exc)
                if not problems:
                    self._record(template, context, responses, success=True, confidence=result.confidence)
                    return result
            feedback = REASK.format(problems="\n".join(f"- {problem}" for problem in problems))
        self._record(template, context, responses, success=False)
        if refused is not None:
            return task.fallback(context, failure_reason(refused))
        return task.fallback(context, "The LLM's answer was rejected twice: " + " ".join(problems))

    async def _stream(self, task: Task[Any, Any], context: Any, field: str) -> AsyncIterator[str]:
        """The text of one field of the task's answer as the model writes it."""
        client = self.client
        if not client.enabled:
            yield getattr(task.fallback(context, off_reason(client)), field)
            return
        try:
            template, system, user = self._prompt(task, context)
        except PromptError as exc:
            yield getattr(task.fallback(context, prompt_failure(task, context, exc)), field)
            return
        config = template.config
        extractor = JsonFieldStream(field)
        sent = False
        chunks = client.stream_completion(
            system_prompt=system, user_prompt=user, tier=config.tier, temperature=config.temperature,
            max_tokens=config.max_tokens, prompt_id=config.id, prompt_version=config.version,
            variant=config.variant, response_format=JSON_OBJECT,
        )
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    text = extractor.feed(chunk)
                    if text:
                        sent = True
                        yield text
        except LLMError as exc:
            if sent:
                raise
            yield getattr(task.fallback(context, failure_reason(exc)), field)
            return
        if not extractor.found:
            yield getattr(task.fallback(context, f"The LLM's streamed answer had no {field!r} field"), field)

    def _record(self, template: PromptTemplate, context: Any, responses: list[LLMResponse], *,
                success: bool, confidence: float | None = None) -> None:
        """Record the outcome per prompt version and A/B variant (tokens, cost and latency
        summed over the writer's own re-ask), for the Prompts page."""
        self.registry.record_outcome(
            template,
            assignment_key=context.assignment_key,
            success=success,
            confidence=confidence,
            total_tokens=sum(r.usage.total_tokens for r in responses) if responses else None,
            cost_usd=sum((r.usage for r in responses), Usage()).cost_usd if responses else None,
            latency_ms=sum(r.latency_ms for r in responses) if responses else None,
        )

    # -- synchronous twins for the command line and Streamlit -----------------------------------

    def draft_email_sync(self, context: EmailDraftContext) -> DraftEmailResult:
        return run_sync(self.draft_email(context))

    def draft_reminder_sync(self, context: ReminderDraftContext) -> DraftReminderResult:
        return run_sync(self.draft_reminder(context))

    def summarize_deal_sync(self, context: DealSummaryContext) -> DealSummaryResult:
        return run_sync(self.summarize_deal(context))

    def analyze_compliance_sync(self, context: ComplianceContext) -> ComplianceResult:
        return run_sync(self.analyze_compliance(context))

    def analyze_order_received_sync(self, context: OrderReceivedContext) -> OrderReceivedResult:
        return run_sync(self.analyze_order_received(context))

    def analyze_deal_health_sync(self, context: DealHealthContext) -> DealHealthResult:
        return run_sync(self.analyze_deal_health(context))

    def summarize_notes_sync(self, context: NoteSummaryContext) -> NoteSummaryResult:
        return run_sync(self.summarize_notes(context))

    def batch_summarize_deals_sync(
        self, contexts: Sequence[DealSummaryContext], max_concurrent: int = 5
    ) -> list[DealSummaryResult]:
        return run_sync(self.batch_summarize_deals(contexts, max_concurrent))

    def stream_email_body_sync(self, context: EmailDraftContext) -> Iterator[str]:
        return iterate_sync(self.stream_email_body(context))

    def stream_deal_summary_sync(self, context: DealSummaryContext) -> Iterator[str]:
        return iterate_sync(self.stream_deal_summary(context))


_DONE = object()


def iterate_sync(stream: AsyncIterator[str]) -> Iterator[str]:
    """Walk an async stream from synchronous code (e.g. ``st.write_stream``), one chunk per
    ``run_sync``; the stream is closed even when the caller stops early."""

    async def next_chunk() -> object:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return _DONE

    async def close() -> None:
        await stream.aclose()  # type: ignore[attr-defined]

    try:
        while (chunk := run_sync(next_chunk())) is not _DONE:
            yield chunk  # type: ignore[misc]
    finally:
        run_sync(close())


@functools.cache
def get_writer_service() -> WriterService:
    """The process-wide writer, on the process-wide LLM client and prompt registry."""
    return WriterService()
