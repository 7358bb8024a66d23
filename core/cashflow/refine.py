"""Merging a refiner's answers (the LLM path, or a caller's own dates) into a prediction frame."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.rules import apply_overrides

#: The payment part of the reasoning when a refiner's answer gave the payment date itself.
REFINED_PAYMENT_TEXT = "payment date from the LLM answer"


def merge_refined(frame: pd.DataFrame, refined: pd.DataFrame, as_of: dt.date, a: Assumptions) -> pd.DataFrame:
    """Put a refiner's answers into the frame (matched by deal id) and re-run the overrides."""
    position = pd.Series(np.arange(len(frame)), index=frame["deal_id"].astype(str))
    refined = refined[refined["deal_id"].astype(str).isin(position.index)]
    rows = position.loc[refined["deal_id"].astype(str)].to_numpy()
    out = frame.copy()
    forecast = (out["kind"] == "forecast").to_numpy()
    payment = day_array(out["predicted_payment_date"])
    payment[forecast] = np.datetime64("NaT")
    for name in ("predicted_invoice_date", "invoice_p10", "invoice_p90"):
        values = day_array(out[name])
        given = day_array(refined[name]) if name in refined else day_array(refined["predicted_invoice_date"])
        values[rows] = np.where(np.isnat(given), values[rows], given)
        out[name] = values
    given_payment = day_array(refined["predicted_payment_date"])
    payment[rows] = given_payment
    out["predicted_payment_date"] = payment
    terms = pd.Categorical(out["terms_reason"]).copy()
    if not np.isnat(given_payment).all():
        if REFINED_PAYMENT_TEXT not in terms.categories:
            terms = terms.add_categories([REFINED_PAYMENT_TEXT])
        terms[rows[~np.isnat(given_payment)]] = REFINED_PAYMENT_TEXT
    out["terms_reason"] = terms
    confidence = out["confidence"].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    confidence[rows] = refined["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    out["confidence"] = confidence
    method = pd.Categorical(out["method"]).copy()
    method[rows] = refined["method"].astype(str).to_numpy()
    out["method"] = method
    reasons = pd.Categorical(out["invoice_reason"])
    texts = refined["reasoning"].astype(str).str.rstrip(".").to_numpy()
    reasons = reasons.add_categories([t for t in pd.unique(texts) if t not in reasons.categories])
    reasons[rows] = texts
    out["invoice_reason"] = reasons
    return apply_overrides(out, as_of, a)
