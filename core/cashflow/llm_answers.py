"""The LLM path's answers: matched by deal id, checked, and turned into refined rows or the
reason each deal keeps its rules estimate (DESIGN 5.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.cashflow.columns import day_array
from core.cashflow.engines import EngineContext
from core.cashflow.rules import LOW_CONFIDENCE

if TYPE_CHECKING:  # the LLM and prompt packages (httpx, Jinja2) load when the LLM path runs
    from core.llm import LLMError
    from core.prompts.outputs import DatePrediction, DatePredictions

#: Longest model text kept in a deal's reasoning, and in a failure reason.
MAX_REASONING_CHARS = 300
MAX_ERROR_CHARS = 160


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


def warn_about(
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
