"""The LLM path of the forecast (DESIGN 5.3), registered as the ``"llm"`` refiner.

The service hands ``LLMRefiner.refine`` the deals its policy chose (unknown stages, stuck
deals, or all) with their current predictions. Sorted by deal id, so the same forecast
renders the same requests and the client's response cache answers a repeat, they go in
batches of ``llm_batch_size`` to the ``cashflow.predict_dates`` prompt, at most
``llm_concurrency`` batches in flight on the LLM runner's event loop. Progress is reported
per answered batch from the caller's own thread (Streamlit draws only from its script
thread).

Answers are matched by deal id, never by position. A deal takes the LLM's dates (method
``llm``) only when they pass ``check_answers``; otherwise, or when its batch failed, it
keeps its rules estimate with the reason added to its reasoning (``llm->rules``). With the
LLM off nothing is sent: every deal stays ``rules`` and the run carries a warning.

``core.llm`` and ``core.prompts`` are imported on first use, so a rules-only forecast never
loads the HTTP client or the prompt templates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from core.cashflow.engines import EngineContext, register_refiner
from core.cashflow.fields import REFINED_FIELDS
from core.cashflow.llm_answers import Batch, BatchOutcome, check_answers, collect_answers, warn_about
from core.cashflow.llm_prompt import deal_records, prompt_variables

if TYPE_CHECKING:  # the LLM and prompt packages (httpx, Jinja2) load when the LLM path runs
    from core.llm import LLMClient
    from core.prompts import PromptRegistry, PromptTemplate

PROMPT_ID = "cashflow.predict_dates"


class LLMRefiner:
    """Asks the LLM for the dates of the deals a policy selected; see the module docstring.

    ``client`` and ``registry`` are for tests and callers that hold their own. Without a
    client, the forecast's is used: the one its service was given (``EngineContext.llm``:
    the command line gives a client over its ``--db`` store, so the response cache and call
    log land in the database being forecast), else the process-wide ``get_llm_client()``.
    """

    def __init__(self, client: LLMClient | None = None, registry: PromptRegistry | None = None) -> None:
        self._client = client
        self._registry = registry
        self._registry_lock = threading.Lock()

    @property
    def registry(self) -> PromptRegistry:
        with self._registry_lock:
            if self._registry is None:
                from core.prompts import PromptRegistry

                self._registry = PromptRegistry()
            return self._registry

    def refine(self, deals: pd.DataFrame, predictions: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        if predictions.empty:
            return empty_refinement()
        from core.prompts import PromptError

        client = self._client or context.llm or _process_client()
        if not client.enabled:
            context.warn(
                f"LLM off, so the {len(predictions)} deal(s) chosen for the LLM keep the rules "
                f"estimate: {client.disabled_reason}"
            )
            return empty_refinement()
        try:
            template = self.registry.get(PROMPT_ID)
            batches = self.render_batches(template, deals, predictions, context)
            outcomes = self._ask_all(client, template, batches, len(predictions), context)
        except PromptError as exc:
            context.warn(f"LLM path skipped, the deals keep the rules estimate: {exc}")
            return empty_refinement()
        answers, failures = collect_answers(outcomes)
        frame = check_answers(predictions, answers, failures, context)
        warn_about(outcomes, answers, frame, context)
        return frame

    # -- requests ---------------------------------------------------------------------

    def render_batches(
        self,
        template: PromptTemplate,
        deals: pd.DataFrame,
        predictions: pd.DataFrame,
        context: EngineContext,
    ) -> Iterator[Batch]:
        """The batches in deal id order, each rendered when it is about to be sent."""
        records = deal_records(deals, predictions, context.assumptions)
        size = context.options.llm_batch_size
        shared = prompt_variables(context.assumptions)
        as_of = context.as_of.isoformat()
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            system, user = self.registry.render_prompt(template, {"as_of": as_of, "deals": chunk, **shared})
            yield Batch(tuple(record["deal_id"] for record in chunk), system, user)

    def _ask_all(
        self,
        client: LLMClient,
        template: PromptTemplate,
        batches: Iterator[Batch],
        deal_count: int,
        context: EngineContext,
    ) -> list[BatchOutcome]:
        """Send every batch on the runner's loop, ``llm_concurrency`` at a time; report as they finish.

        Each batch is handed to the loop as soon as it is rendered, so rendering the later
        ones overlaps the first requests.
        """
        from core.llm.runner import THREAD_NAME, runner_loop

        if threading.current_thread().name == THREAD_NAME:
            raise RuntimeError("LLMRefiner.refine() waits for the LLM loop; call it from another thread.")
        loop = runner_loop()
        gate = asyncio.Semaphore(context.options.llm_concurrency)
        total = math.ceil(deal_count / context.options.llm_batch_size)
        context.report(0, total, f"asking the LLM about {deal_count} deals in {total} batches")
        sent: list[Batch] = []
        futures: list[concurrent.futures.Future[BatchOutcome]] = []
        try:
            for batch in batches:
                sent.append(batch)
                futures.append(asyncio.run_coroutine_threadsafe(_ask(client, template, batch, gate), loop))
            position = {future: index for index, future in enumerate(futures)}
            outcomes = [BatchOutcome(batch) for batch in sent]
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                outcomes[position[future]] = future.result()
                context.report(done, total, f"LLM answered {done} of {total} batches")
        finally:
            for future in futures:
                future.cancel()
        return outcomes


def _process_client() -> LLMClient:
    from core.llm import get_llm_client

    return get_llm_client()


async def _ask(
    client: LLMClient, template: PromptTemplate, batch: Batch, gate: asyncio.Semaphore
) -> BatchOutcome:
    from core.llm import LLMError
    from core.prompts.outputs import DatePredictions

    config = template.config
    async with gate:
        try:
            answer = await client.generate_structured_completion(
                DatePredictions,
                system_prompt=batch.system_prompt,
                user_prompt=batch.user_prompt,
                tier=config.tier,
                temperature=config.temperature,
                max_tokens=config.max_tokens,
                prompt_id=config.id,
                prompt_version=config.version,
                variant=config.variant,
            )
        except LLMError as exc:
            return BatchOutcome(batch, error=exc)
    return BatchOutcome(batch, answer=answer)


def empty_refinement() -> pd.DataFrame:
    """A refinement that changes nothing: every deal keeps its prediction."""
    return pd.DataFrame({name: pd.Series(dtype=object) for name in REFINED_FIELDS})


register_refiner("llm", LLMRefiner())
