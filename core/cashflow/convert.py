"""Between frames and edge models: deals in, prediction records and warnings out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.checks import warning_masks
from core.cashflow.columns import day_array
from core.cashflow.fields import (
    DATE_OUTPUT_COLUMNS,
    KINDS,
    NUMBER_OUTPUT_COLUMNS,
    PREDICTION_FIELDS,
    TEXT_OUTPUT_COLUMNS,
    Flag,
)
from core.cashflow.models import DealForPrediction, DealPrediction
from core.deals import conform


def deals_frame(deals: Iterable[DealForPrediction]) -> pd.DataFrame:
    """A canonical deals frame from single deal models."""
    rows = [deal.model_dump() for deal in deals]
    return conform(pd.DataFrame(rows) if rows else pd.DataFrame({"deal_id": []}))


def flag_bits(flags: Iterable[str]) -> int:
    """The bits of flags given by name (as ``DealPrediction.flags`` lists them)."""
    return sum(int(getattr(Flag, name.upper(), 0)) for name in flags)


def predictions_frame(predictions: Iterable[DealPrediction]) -> pd.DataFrame:
    """A prediction frame (what engines produce) back from prediction models, for the
    seed-style calls that hand predictions to ``generate_forecast_table`` and friends."""
    records = [p.model_dump() for p in predictions]
    frame = pd.DataFrame(records, columns=list(DealPrediction.model_fields))
    for name in DATE_OUTPUT_COLUMNS:
        frame[name] = pd.to_datetime(frame[name])
    for name in NUMBER_OUTPUT_COLUMNS:
        frame[name] = frame[name].astype(np.float64)
    frame["kind"] = pd.Categorical(frame["kind"], categories=list(KINDS))
    frame["flag_bits"] = np.array([flag_bits(flags) for flags in frame["flags"]], dtype=np.int64)
    frame["flags"] = [",".join(flags) for flags in frame["flags"]]
    return frame


def deal_records(
    frame: pd.DataFrame, as_of: dt.date, a: Assumptions, *, warnings: bool = False
) -> list[dict]:
    """Plain dicts per deal (dates as ``datetime.date``, flags as lists) for JSON and models."""
    out = frame.loc[:, list(PREDICTION_FIELDS)].copy()
    for name in DATE_OUTPUT_COLUMNS:
        days = day_array(out[name])
        out[name] = pd.Series([None if np.isnat(d) else d.item() for d in days], dtype=object)
    for name in NUMBER_OUTPUT_COLUMNS:
        values = out[name].to_numpy(dtype=np.float64, na_value=np.nan)
        out[name] = pd.Series(
            [None if np.isnan(v) else round(float(v), 2 if name != "probability" else 4) for v in values],
            dtype=object,
        )
    for name in TEXT_OUTPUT_COLUMNS:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    out["flags"] = [text.split(",") if text else [] for text in frame["flags"].astype(str)]
    records = out.to_dict("records")
    if warnings:
        masks = warning_masks(frame, as_of, a)
        for position, record in enumerate(records):
            record["warnings"] = [text for text, mask in masks.items() if mask[position]]
    return records


def deal_predictions(frame: pd.DataFrame, as_of: dt.date, a: Assumptions) -> list[DealPrediction]:
    return [DealPrediction.model_validate(r) for r in deal_records(frame, as_of, a, warnings=True)]
