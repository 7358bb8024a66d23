"""The LLM path's prompt variables: the assumptions in force and the deals, compactly (DESIGN 5.3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.rules import LOW_CONFIDENCE


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
