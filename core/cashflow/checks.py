"""The checks of ``validate_prediction`` over many predictions, written once as SQL.

A run's warnings count the deals that fail each check (over a frame or a relation: the
command line reads the stored snapshot's); a frame's per-deal records list the checks each
of its deals fails (``warning_masks``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.cashflow import sql
from core.cashflow.fields import DATE_ISSUE_FLAGS, VALUE_FLAGS, Flag
from core.cashflow.rules import LOW_CONFIDENCE
from core.cashflow.sql import Source, literal

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from core.cashflow.assumptions import Assumptions

#: What the checks read of a prediction.
COLUMNS = ("kind", "flag_bits", "confidence", "predicted_invoice_date", "predicted_payment_date")
#: A prediction with its dates as DATE, for the checks' SQL.
_DATED = (
    "SELECT kind, flag_bits, confidence, CAST(predicted_invoice_date AS DATE) AS invoice_day, "
    "CAST(predicted_payment_date AS DATE) AS payment_day FROM prediction_rows"
)


def warning_conditions(as_of: dt.date, a: Assumptions) -> dict[str, str]:
    """Sentence -> SQL condition on a prediction (a missing date fails no check)."""
    limits = a.validation
    forecast = "kind = 'forecast'"
    latest_invoice = as_of + dt.timedelta(days=limits.max_invoice_days_ahead)
    return {
        f"invoice more than {limits.max_invoice_days_ahead} days after the as-of date":
            f"{forecast} AND invoice_day > {literal(latest_invoice)}",
        "invoice date not after the as-of date (and not a fact)":
            f"{forecast} AND flag_bits & {int(Flag.INVOICED)} = 0 AND invoice_day <= {literal(as_of)}",
        "payment date not after its invoice date": f"{forecast} AND payment_day <= invoice_day",
        f"payment more than {limits.max_payment_gap_days} days after the invoice":
            f"{forecast} AND payment_day - invoice_day > {int(limits.max_payment_gap_days)}",
        f"confidence below {LOW_CONFIDENCE:.2f}":
            f"{forecast} AND coalesce(confidence, 1) < {literal(LOW_CONFIDENCE)}",
        "value left out of totals (unknown currency, no value or negative value)":
            f"{forecast} AND flag_bits & {int(VALUE_FLAGS)} <> 0",
        "inconsistent dates (created or stage changed after as-of, or stage change before creation)":
            f"flag_bits & {int(DATE_ISSUE_FLAGS)} <> 0",
    }


def warning_masks(frame: pd.DataFrame, as_of: dt.date, a: Assumptions) -> dict[str, np.ndarray]:
    """Sentence -> the rows of ``frame`` it applies to."""
    conditions = warning_conditions(as_of, a)
    checks = ", ".join(f"coalesce({check}, false) AS c{i}" for i, check in enumerate(conditions.values()))
    found = sql.arrays(frame, "prediction_rows", COLUMNS, f"SELECT {checks} FROM ({_DATED})")
    return {text: found[f"c{i}"] for i, text in enumerate(conditions)}


def run_warnings(predictions: Source, as_of: dt.date, a: Assumptions) -> list[str]:
    """One line per check that some deals fail, with how many."""
    conditions = warning_conditions(as_of, a)
    counts = ", ".join(f"count(*) FILTER ({condition})" for condition in conditions.values())
    (found,) = sql.rows(predictions, "prediction_rows", COLUMNS, f"SELECT {counts} FROM ({_DATED})")
    return warning_lines(conditions, found)


def failed_checks(conditions: dict[str, str]) -> str:
    """SQL: an integer with bit i set when a prediction fails check i of ``conditions``, so a
    pass that groups predictions anyway (the aggregation) counts the failures too."""
    return " | ".join(
        f"CASE WHEN {condition} THEN {1 << i} ELSE 0 END" for i, condition in enumerate(conditions.values())
    ) or "0"


def warning_lines(conditions: dict[str, str], counts: Sequence[int]) -> list[str]:
    """``run_warnings``' lines from the number of deals failing each check, in order."""
    return [f"{count} deal(s): {text}" for text, count in zip(conditions, counts, strict=True) if count]
