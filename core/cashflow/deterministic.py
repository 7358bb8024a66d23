"""``DeterministicRules``: the rules engine with the seed's per-deal entry points.

The seed's four methods keep their documented signatures (``precheck_deal``,
``apply_overrides``, ``validate_prediction``, ``get_stage_estimate``); ``check_deal`` and
``stage_estimate`` are Dealcast's richer views of the same facts. Every method runs the
same columnar code as a whole-frame forecast, on a one-row frame, so a single deal and a
million deals follow exactly the same rules.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.cashflow import rules
from core.cashflow.assumptions import SEED_PROFILE, Assumptions
from core.cashflow.checks import warning_masks
from core.cashflow.convert import deal_predictions, deals_frame, flag_bits
from core.cashflow.fields import Flag, flag_names
from core.cashflow.models import DealForPrediction, DealPrecheck, DealPrediction, StageEstimate
from core.cashflow.refine import merge_refined


class DeterministicRules:
    """DESIGN 5.1 over one assumptions profile."""

    def __init__(self, assumptions: Assumptions = SEED_PROFILE) -> None:
        self.assumptions = assumptions

    def predict_frame(self, deals: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
        """Predictions for a whole canonical frame (see ``rules.predict_frame``)."""
        return rules.predict_frame(deals, as_of, self.assumptions)

    def predict_deal(self, deal: DealForPrediction, as_of: dt.date) -> DealPrediction:
        """The rules prediction of one deal."""
        frame = self.predict_frame(deals_frame([deal]), as_of)
        return deal_predictions(frame, as_of, self.assumptions)[0]

    # -- the seed's entry points ----------------------------------------------------------

    def get_stage_estimate(self, stage: str | None) -> int | None:
        """Days from today to invoice the stage table gives ``stage``; None when it is not in the table."""
        row = self.assumptions.match_stage(stage)
        return None if row is None else self.assumptions.stages[row].realistic

    def precheck_deal(self, deal: DealForPrediction, today: dt.date) -> DealPrediction | None:
        """The prediction when the rules settle the deal without any estimate, else None.

        Settled: an invoiced stage or an invoice date (the invoice date is a fact, at the
        invoiced confidence), a payment received, a lost or deleted deal (not forecast).
        """
        prediction = self.predict_deal(deal, today)
        return prediction if _settled(prediction) else None

    def apply_overrides(
        self, prediction: DealPrediction, deal: DealForPrediction, today: dt.date
    ) -> DealPrediction:
        """Put an engine's prediction (e.g. an LLM's) for ``deal`` through the rules every engine obeys.

        A deal the rules settle keeps the rules' answer. A prediction without an invoice
        date or with confidence below ``LOW_CONFIDENCE`` (0.40) gives way to the stage
        estimate. Otherwise: a guessed invoice date over 30 days past moves to today + 7
        with less confidence, a payment not after the invoice becomes invoice + the deal's
        terms, an overdue payment rolls to today, and confidence is clamped and rounded.
        """
        frame = self.predict_frame(deals_frame([deal]), today)
        estimate = deal_predictions(frame, today, self.assumptions)[0]
        if _settled(estimate):
            return estimate
        confidence, invoice = prediction.confidence, prediction.predicted_invoice_date
        if invoice is None or confidence is None or confidence < rules.LOW_CONFIDENCE:
            why = "no invoice date" if invoice is None else (
                "no confidence" if confidence is None else f"confidence {confidence:.2f}"
            )
            return estimate.model_copy(
                update={
                    "reasoning": f"{estimate.reasoning} (the {prediction.method} prediction had {why}, "
                    f"below {rules.LOW_CONFIDENCE:.2f}: stage estimate used)"
                }
            )
        refined = pd.DataFrame(
            {
                "deal_id": [estimate.deal_id],
                "predicted_invoice_date": pd.to_datetime([prediction.predicted_invoice_date]),
                "invoice_p10": pd.to_datetime([prediction.invoice_p10 or prediction.predicted_invoice_date]),
                "invoice_p90": pd.to_datetime([prediction.invoice_p90 or prediction.predicted_invoice_date]),
                "predicted_payment_date": pd.to_datetime([prediction.predicted_payment_date]),
                "confidence": [confidence],
                "method": [prediction.method],
                "reasoning": [prediction.reasoning or f"{prediction.method} prediction"],
            }
        )
        merged = merge_refined(frame, refined, today, self.assumptions)
        return deal_predictions(merged, today, self.assumptions)[0]

    def validate_prediction(self, prediction: DealPrediction, today: dt.date) -> list[str]:
        """Warnings about a prediction: an invoice over a year out or not after today (unless it
        is a fact), a payment not after its invoice or long after it, low confidence."""
        frame = pd.DataFrame(
            {
                "kind": [prediction.kind],
                "predicted_invoice_date": pd.to_datetime([prediction.predicted_invoice_date]),
                "predicted_payment_date": pd.to_datetime([prediction.predicted_payment_date]),
                "confidence": [prediction.confidence],
                "flag_bits": [flag_bits(prediction.flags)],
            }
        )
        return [text for text, mask in warning_masks(frame, today, self.assumptions).items() if mask[0]]

    # -- Dealcast's richer views ------------------------------------------------------------

    def stage_estimate(self, stage: str | None) -> StageEstimate:
        """Days to invoice (band included) and base confidence the table gives a stage name."""
        a = self.assumptions
        row = a.match_stage(stage)
        rule = a.stages[row] if row is not None else a.unknown_stage
        invoiced, paid = a.is_invoiced_stage(stage), a.is_paid_stage(stage)
        if invoiced or paid:
            confidence = a.invoiced_confidence
        elif row is None:
            confidence = a.unknown_stage_confidence
        else:
            confidence = a.late_stage_confidence if rule.late else a.base_confidence
        return StageEstimate(
            stage=stage,
            matched=rule.name if row is not None else None,
            known=row is not None,
            optimistic=rule.optimistic,
            realistic=rule.realistic,
            conservative=rule.conservative,
            confidence=confidence,
            late=rule.late,
            invoiced=invoiced,
            paid=paid,
        )

    def check_deal(self, deal: DealForPrediction, as_of: dt.date) -> DealPrecheck:
        """Whether the deal is forecast and what is wrong with its data, before any estimate."""
        frame = rules.estimate_frame(deals_frame([deal]), as_of, self.assumptions)
        bits = int(frame["flag_bits"].iloc[0])
        texts = rules.flag_texts(self.assumptions)
        issues = [texts[flag] for flag in texts if bits & flag and flag not in (Flag.OVERDUE_ROLLED,)]
        if bits & Flag.NO_STAGE:
            issues.insert(0, "no stage: treated as an unknown stage")
        return DealPrecheck(
            deal_id=deal.deal_id, kind=str(frame["kind"].iloc[0]), flags=flag_names(bits), issues=issues
        )


def _settled(prediction: DealPrediction) -> bool:
    """The rules decide this deal outright: not forecast, received, or invoiced (a fact)."""
    return prediction.kind != "forecast" or "invoiced" in prediction.flags
