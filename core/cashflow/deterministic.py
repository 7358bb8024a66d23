"""``DeterministicRules``: the rules engine with the seed's per-deal entry points.

Every method runs the same columnar code as a whole-frame forecast, on a one-row frame,
so a single deal and a million deals follow exactly the same rules.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.cashflow import rules
from core.cashflow.assumptions import SEED_PROFILE, Assumptions
from core.cashflow.columns import Flag, flag_names
from core.cashflow.convert import deal_predictions, deals_frame, warning_masks
from core.cashflow.models import DealForPrediction, DealPrecheck, DealPrediction, StageEstimate


class DeterministicRules:
    """DESIGN 5.1 over one assumptions profile."""

    def __init__(self, assumptions: Assumptions = SEED_PROFILE) -> None:
        self.assumptions = assumptions

    def predict_frame(self, deals: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
        """Predictions for a whole canonical frame (see ``rules.predict_frame``)."""
        return rules.predict_frame(deals, as_of, self.assumptions)

    def predict_deal(self, deal: DealForPrediction, as_of: dt.date) -> DealPrediction:
        frame = self.predict_frame(deals_frame([deal]), as_of)
        return deal_predictions(frame, as_of, self.assumptions)[0]

    def get_stage_estimate(self, stage: str | None) -> StageEstimate:
        """Days to invoice and base confidence the table gives a stage name."""
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

    def precheck_deal(self, deal: DealForPrediction, as_of: dt.date) -> DealPrecheck:
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

    def apply_overrides(
        self,
        prediction: DealPrediction,
        as_of: dt.date,
        *,
        invoice_is_fact: bool = False,
        payment_terms_days: int | None = None,
    ) -> DealPrediction:
        """Apply the rules every engine obeys to one prediction (e.g. an LLM's).

        A past invoice date more than 30 days back moves to as-of + 7 with less confidence
        (unless it is a fact); a payment not after the invoice becomes invoice + terms; an
        overdue payment rolls to the as-of date; confidence is clamped and rounded.
        """
        terms = self.assumptions.default_payment_days if payment_terms_days is None else payment_terms_days
        invoice = prediction.predicted_invoice_date
        frame = pd.DataFrame(
            {
                "deal_id": [prediction.deal_id],
                "title": [prediction.title],
                "pipeline": [prediction.pipeline],
                "stage": [prediction.stage],
                "status": ["open"],
                "owner": [prediction.owner],
                "organization": [prediction.organization],
                "kind": pd.Categorical(
                    [prediction.kind], categories=["forecast", "received", "not_forecast"]
                ),
                "value_base": [prediction.value_base],
                "probability": [prediction.probability],
                "weighted_value": [prediction.weighted_value],
                "predicted_invoice_date": pd.to_datetime([invoice]),
                "predicted_payment_date": pd.to_datetime([prediction.predicted_payment_date]),
                "invoice_p10": pd.to_datetime([prediction.invoice_p10 or invoice]),
                "invoice_p90": pd.to_datetime([prediction.invoice_p90 or invoice]),
                "confidence": [prediction.confidence],
                "method": [prediction.method],
                "invoice_reason": pd.Categorical([prediction.reasoning.rstrip(".") or None]),
                "terms_reason": pd.Categorical([f"payment {terms} days after invoice"]),
                "invoice_is_fact": [invoice_is_fact],
                "payment_terms_days": [terms],
                "days_in_stage": [0],
                "flag_bits": [int(np.sum([getattr(Flag, name.upper(), 0) for name in prediction.flags]))],
            }
        )
        out = rules.apply_overrides(frame, as_of, self.assumptions)
        return deal_predictions(out, as_of, self.assumptions)[0]

    def validate_prediction(self, prediction: DealPrediction, as_of: dt.date) -> list[str]:
        """Warnings about a prediction: invoice over a year out, payment gap over 90 days, ..."""
        frame = pd.DataFrame(
            {
                "kind": [prediction.kind],
                "predicted_invoice_date": pd.to_datetime([prediction.predicted_invoice_date]),
                "predicted_payment_date": pd.to_datetime([prediction.predicted_payment_date]),
                "confidence": [prediction.confidence],
                "flag_bits": [int(np.sum([getattr(Flag, name.upper(), 0) for name in prediction.flags]))],
            }
        )
        return [text for text, mask in warning_masks(frame, as_of, self.assumptions).items() if mask[0]]
