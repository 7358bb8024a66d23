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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.engines import EngineContext, register_refiner
from core.cashflow.rules import LOW_CONFIDENCE

if TYPE_CHECKING:  # the LLM and prompt packages (httpx, Jinja2) load when the LLM path runs
    from core.llm import LLMClient, LLMError
    from core.prompts import PromptRegistry, PromptTemplate
    from core.prompts.outputs import DatePrediction, DatePredictions
    from core.store import Store

PROMPT_ID = "cashflow.predict_dates"
#: Longest model text kept in a deal's reasoning, and in a failure reason.
MAX_REASONING_CHARS = 300
MAX_ERROR_CHARS = 160

OUTPUT_COLUMNS = (
    "deal_id",
    "predicted_invoice_date",
    "predicted_payment_date",
    "invoice_p10",
    "invoice_p90",
    "confidence",
    "method",
    "reasoning",
)


@dataclass(frozen=True)
class Batch:
    """The deals of one request: their ids and the rendered prompts."""

    deal_ids: tuple[str, ...]
    system_prompt: str
    user_prompt: str


@dataclass(frozen=True)
class BatchOutcome:
    """One request's result: the validated answer, or the failure that left the batch unanswered."""

    batch: Batch
    answer: DatePredictions | None = None
    error: LLMError | None = None


class LLMRefiner:
    """Asks the LLM for the dates of the deals a policy selected; see the module docstring.

    ``client`` and ``registry`` are for tests and callers that hold their own. Without a
    client, the process-wide one is used when the forecast runs on the process-wide store
    (the dashboard); otherwise (the command line's ``--db``) a client for the forecast's
    store is made for this forecast and closed afterwards, so the response cache and call
    log land in the database being forecast.
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

        client, owned = self._client_for(context.store)
        try:
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
        finally:
            if owned:
                from core.llm import run_sync

                run_sync(client.aclose())
        answers, failures = collect_answers(outcomes)
        frame = check_answers(predictions, answers, failures, context)
        _warn_about(outcomes, answers, frame, context)
        return frame

    # -- requests ---------------------------------------------------------------------

    def _client_for(self, store: Store | None) -> tuple[LLMClient, bool]:
        """The client to use, and whether this forecast owns it (and must close it)."""
        if self._client is not None:
            return self._client, False
        from core.config import get_settings
        from core.llm import LLMClient, get_llm_client
        from core.store import get_store

        settings = get_settings()
        if store is None or (store.database == settings.db and store is get_store()):
            return get_llm_client(), False
        return LLMClient(settings, store=store), True

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


# -- the prompt ---------------------------------------------------------------------------


def prompt_variables(a: Assumptions) -> dict[str, Any]:
    """The assumptions in force as the prompt's variables, so the model reasons from the rules' figures."""
    return {
        "stage_table": [
            {
                "stage": stage.name,
                "optimistic": stage.optimistic,
                "realistic": stage.realistic,
                "conservative": stage.conservative,
                "confidence": a.late_stage_confidence if stage.late else None,
            }
            for stage in a.stages
        ],
        "unknown_stage_days": a.unknown_stage.realistic,
        "unknown_stage_confidence": a.unknown_stage_confidence,
        "base_confidence": a.base_confidence,
        "stuck_rules": [rule.model_dump() for rule in sorted(a.stuck, key=lambda rule: rule.over_days)],
        "min_confidence": a.confidence_min,
        "max_confidence": a.confidence_max,
        "payment_terms_days": a.default_payment_days,
        # The prompt states organization rules; every deal not on the default terms also
        # carries its own payment_terms_days (see deal_records), pipeline rules included.
        "payment_rules": [
            {"match": rule.pattern, "days": rule.days}
            for rule in a.payment_rules
            if rule.field == "organization"
        ],
        "low_confidence": LOW_CONFIDENCE,
        "currency": a.base_currency,
    }


def deal_records(deals: pd.DataFrame, predictions: pd.DataFrame, a: Assumptions) -> list[dict[str, Any]]:
    """The compact deal mappings the prompt shows, sorted by deal id; empty fields left out.

    Only what the model needs: id, title, stage, days in stage, organization, value,
    expected close, payment terms when not the default, and the notes (the prompt's
    ``compact_json`` cuts them and neutralises anything shaped like a tag).
    """
    expected = day_array(deals["expected_close"])
    terms = predictions["payment_terms_days"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "deal_id": predictions["deal_id"].astype(str).to_numpy(),
            "title": deals["title"].astype(object).to_numpy(),
            "stage": deals["stage"].astype(object).to_numpy(),
            "days_in_stage": predictions["days_in_stage"].to_numpy(dtype=np.int64),
            "organization": deals["organization"].astype(object).to_numpy(),
            "value_base": predictions["value_base"].to_numpy(dtype=np.float64, na_value=np.nan).round(0),
            "expected_close": np.where(np.isnat(expected), None, expected.astype(str)),
            "payment_terms_days": np.where(terms != a.default_payment_days, terms, -1),
            "notes": deals["notes"].astype(object).to_numpy(),
        }
    ).sort_values("deal_id", kind="stable")
    return [
        {key: _plain(value) for key, value in record.items() if _present(key, value)}
        for record in frame.to_dict("records")
    ]


def _present(key: str, value: object) -> bool:
    if key == "payment_terms_days":
        return value != -1
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value is not pd.NA


def _plain(value: object) -> object:
    """Numbers as plain ints where whole, so the prompt shows ``1250000``, not ``1250000.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- the answers --------------------------------------------------------------------------


def collect_answers(outcomes: Sequence[BatchOutcome]) -> tuple[pd.DataFrame, pd.Series]:
    """The usable answers (first per deal id asked in that batch) and the failure reason per deal.

    Answers naming deals their batch did not ask about are dropped here; they are counted
    by ``_warn_about``.
    """
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for outcome in outcomes:
        asked = set(outcome.batch.deal_ids)
        if outcome.error is not None:
            reason = f"the LLM request failed ({_error_text(outcome.error)})"
            failures.update(dict.fromkeys(outcome.batch.deal_ids, reason))
            continue
        for prediction in outcome.answer.predictions if outcome.answer else []:
            deal_id = prediction.deal_id.strip()
            if deal_id in asked:
                asked.discard(deal_id)
                rows.append(_answer_row(deal_id, prediction))
        for deal_id, why in outcome.answer.invalid if outcome.answer else []:
            if deal_id in asked:
                failures[deal_id] = f"the LLM's answer for this deal was invalid ({why})"
    answers = pd.DataFrame(rows, columns=list(_ANSWER_COLUMNS))
    return answers, pd.Series(failures, dtype=object)


_ANSWER_COLUMNS = (
    "deal_id",
    "llm_invoice",
    "llm_payment",
    "invoice_text",
    "payment_text",
    "invoice_unreadable",
    "payment_unreadable",
    "llm_confidence",
    "llm_reasoning",
    "missing_fields",
)


def _answer_row(deal_id: str, prediction: DatePrediction) -> dict[str, Any]:
    invoice, invoice_bad = _read_date(prediction.invoice_date)
    payment, payment_bad = _read_date(prediction.payment_date)
    reasoning = " ".join(prediction.reasoning.split()).rstrip(".") or "no reasoning given"
    if prediction.assumptions:
        reasoning += " (assumed: " + "; ".join(" ".join(a.split()) for a in prediction.assumptions) + ")"
    if len(reasoning) > MAX_REASONING_CHARS:
        reasoning = reasoning[: MAX_REASONING_CHARS - 1].rstrip() + "…"
    return {
        "deal_id": deal_id,
        "llm_invoice": invoice,
        "llm_payment": payment,
        "invoice_text": prediction.predicted_invoice_date,
        "payment_text": prediction.predicted_payment_date,
        "invoice_unreadable": invoice_bad,
        "payment_unreadable": payment_bad,
        "llm_confidence": prediction.confidence,
        "llm_reasoning": reasoning,
        "missing_fields": ", ".join(prediction.missing_fields),
    }


def _read_date(read) -> tuple[np.datetime64, bool]:
    """A date from ``DatePrediction.invoice_date``/``payment_date`` as datetime64 (NaT when none) and
    whether the text was unreadable."""
    try:
        value = read()
    except ValueError:
        return np.datetime64("NaT", "D"), True
    return (np.datetime64("NaT", "D") if value is None else np.datetime64(value, "D")), False


# Why a deal falls back to its rules estimate; the first that applies is named.
_FALLBACKS = (
    ("failed", "{failure}"),
    ("missing", "the LLM answer had no prediction for this deal"),
    ("no_invoice", "the LLM gave no invoice date{missing}"),
    ("invoice_unreadable", "the LLM invoice date {invoice_text!r} is not a YYYY-MM-DD date"),
    ("payment_unreadable", "the LLM payment date {payment_text!r} is not a YYYY-MM-DD date"),
    ("invoice_past", "the LLM invoice date {invoice} is before the as-of date {as_of}"),
    ("invoice_far", "the LLM invoice date {invoice} is more than {ahead} days after the as-of date"),
    ("payment_early", "the LLM payment date {payment} is before its invoice date {invoice}"),
    ("payment_far", "the LLM payment date {payment} is more than {gap} days after its invoice date"),
    ("low_confidence", "the LLM confidence {confidence:.2f} is below {low:.2f}"),
)


def check_answers(
    predictions: pd.DataFrame, answers: pd.DataFrame, failures: pd.Series, context: EngineContext
) -> pd.DataFrame:
    """One refined row per selected deal: the LLM's answer where it passes, else the rules estimate.

    Checks, in order: the batch was answered, the deal was in the answer, an invoice date
    was given, both dates read as YYYY-MM-DD, the invoice is not before the as-of date and
    at most ``validation.max_invoice_days_ahead`` after it, the payment is not before the
    invoice and at most ``max(validation.max_payment_gap_days, terms)`` after it, and the
    confidence is at least ``LOW_CONFIDENCE``. A missing payment date is allowed: the
    shared overrides set it to invoice + terms.
    """
    a = context.assumptions
    ids = predictions["deal_id"].astype(str)
    merged = pd.DataFrame({"deal_id": ids.to_numpy()}).merge(answers, on="deal_id", how="left")
    today = np.datetime64(context.as_of, "D")
    invoice = day_array(merged["llm_invoice"])
    payment = day_array(merged["llm_payment"])
    terms = predictions["payment_terms_days"].to_numpy(dtype=np.int64)
    gap = np.maximum(terms, a.validation.max_payment_gap_days)
    failed = ids.isin(failures.index).to_numpy()
    answered = merged["llm_confidence"].notna().to_numpy()
    confidence = merged["llm_confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    masks = {
        "failed": failed,
        "missing": ~answered,
        "no_invoice": np.isnat(invoice) & ~merged["invoice_unreadable"].eq(True).to_numpy(),
        "invoice_unreadable": merged["invoice_unreadable"].eq(True).to_numpy(),
        "payment_unreadable": merged["payment_unreadable"].eq(True).to_numpy(),
        "invoice_past": invoice < today,
        "invoice_far": invoice > today + np.timedelta64(a.validation.max_invoice_days_ahead, "D"),
        "payment_early": payment < invoice,
        "payment_far": (payment - invoice) > gap.astype("timedelta64[D]"),
        "low_confidence": confidence < LOW_CONFIDENCE,
    }
    names = [name for name, _ in _FALLBACKS]
    code = np.select([masks[name] for name in names], list(range(len(names))), default=-1)
    use_llm = code == -1

    rules_invoice = day_array(predictions["predicted_invoice_date"])
    rules_p10 = day_array(predictions["invoice_p10"])
    rules_p90 = day_array(predictions["invoice_p90"])
    # The LLM names one date; the rules band's spread around its estimate is kept around it.
    below = np.maximum(rules_invoice - rules_p10, np.timedelta64(0, "D"))
    above = np.maximum(rules_p90 - rules_invoice, np.timedelta64(0, "D"))
    rules_reason = predictions["invoice_reason"].astype(str).str.rstrip(".").to_numpy(dtype=object)
    reasoning = np.where(use_llm, "LLM: " + merged["llm_reasoning"].fillna("").to_numpy(dtype=object), "")
    fallback_rows = np.flatnonzero(~use_llm)
    for row, answer in zip(fallback_rows, merged.iloc[fallback_rows].to_dict("records"), strict=True):
        why = _fallback_text(int(code[row]), answer, failures.get(answer["deal_id"], ""), context)
        reasoning[row] = f"{rules_reason[row]}; LLM answer not used: {why}"
    return pd.DataFrame(
        {
            "deal_id": ids.to_numpy(),
            "predicted_invoice_date": np.where(use_llm, invoice, rules_invoice),
            "predicted_payment_date": np.where(use_llm, payment, np.datetime64("NaT", "D")),
            "invoice_p10": np.where(use_llm, invoice - below, rules_p10),
            "invoice_p90": np.where(use_llm, invoice + above, rules_p90),
            "confidence": np.where(
                use_llm, confidence, predictions["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
            ),
            "method": np.where(use_llm, "llm", "llm->rules"),
            "reasoning": reasoning,
        }
    )


def _fallback_text(code: int, answer: dict[str, Any], failure: str, context: EngineContext) -> str:
    a = context.assumptions
    missing = answer["missing_fields"]
    return _FALLBACKS[code][1].format(
        failure=failure,
        missing=f" (missing: {missing})" if isinstance(missing, str) and missing else "",
        invoice_text=answer["invoice_text"],
        payment_text=answer["payment_text"],
        invoice=_day(answer["llm_invoice"]),
        payment=_day(answer["llm_payment"]),
        as_of=context.as_of.isoformat(),
        ahead=a.validation.max_invoice_days_ahead,
        gap=a.validation.max_payment_gap_days,
        confidence=answer["llm_confidence"],
        low=LOW_CONFIDENCE,
    )


def _day(value: object) -> str:
    return "" if pd.isna(value) else str(pd.Timestamp(value).date())


def _error_text(error: LLMError) -> str:
    text = f"{type(error).__name__}: {' '.join(error.message.split())}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1].rstrip() + "…"


def _warn_about(
    outcomes: Sequence[BatchOutcome], answers: pd.DataFrame, frame: pd.DataFrame, context: EngineContext
) -> None:
    """Run-level warnings: failed requests, answers about deals not asked, deals that fell back."""
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    if failed:
        deals = sum(len(outcome.batch.deal_ids) for outcome in failed)
        context.warn(
            f"LLM path: {len(failed)} of {len(outcomes)} request(s) failed ({_error_text(failed[0].error)}); "
            f"their {deals} deal(s) keep the rules estimate."
        )
    given = sum(len(outcome.answer.predictions) for outcome in outcomes if outcome.answer is not None)
    ignored = given - len(answers)
    if ignored:
        context.warn(f"LLM path: ignored {ignored} prediction(s) for deals not asked about (or repeated).")
    failed_deals = sum(len(outcome.batch.deal_ids) for outcome in failed)
    rejected = int((frame["method"] == "llm->rules").sum()) - failed_deals
    if rejected:
        context.warn(
            f"LLM path: {rejected} deal(s) keep the rules estimate because the LLM's answer for them was "
            f"missing, invalid or below {LOW_CONFIDENCE:.2f} confidence (each deal's reasoning says which)."
        )


def empty_refinement() -> pd.DataFrame:
    """A refinement that changes nothing: every deal keeps its prediction."""
    return pd.DataFrame({name: pd.Series(dtype=object) for name in OUTPUT_COLUMNS})


register_refiner("llm", LLMRefiner())
