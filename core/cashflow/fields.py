"""The names of a prediction: flags, kinds, methods and the fields callers see.

Plain Python (no pandas, no numpy), so the command line can name a prediction's fields
without loading the frame libraries; ``columns`` holds the frame helpers built on them.
"""

from __future__ import annotations

import enum


class Flag(enum.IntFlag):
    """Why a prediction is special; the lower-case names are what users see."""

    UNKNOWN_STAGE = enum.auto()
    NO_STAGE = enum.auto()
    STUCK = enum.auto()
    LATE_STAGE = enum.auto()
    EXPECTED_CLOSE = enum.auto()
    INVOICED = enum.auto()
    INVOICE_DATE_ASSUMED = enum.auto()
    RECEIVED = enum.auto()
    NOT_FORECAST = enum.auto()
    OVERDUE_ROLLED = enum.auto()
    PAST_INVOICE_MOVED = enum.auto()
    PAYMENT_FIXED = enum.auto()
    UNKNOWN_CURRENCY = enum.auto()
    NO_VALUE = enum.auto()
    NEGATIVE_VALUE = enum.auto()
    CREATED_IN_FUTURE = enum.auto()
    STAGE_CHANGE_BEFORE_CREATED = enum.auto()
    STAGE_CHANGE_IN_FUTURE = enum.auto()
    IN_RECEIVABLES = enum.auto()


#: Flags set by ``apply_overrides``; cleared and recomputed each time it runs.
OVERRIDE_FLAGS = Flag.OVERDUE_ROLLED | Flag.PAST_INVOICE_MOVED | Flag.PAYMENT_FIXED
#: Flags that keep a deal's value out of the totals.
VALUE_FLAGS = Flag.UNKNOWN_CURRENCY | Flag.NO_VALUE | Flag.NEGATIVE_VALUE
#: Inconsistent dates: the deal is forecast with ``data_issue_penalty`` off its confidence.
DATE_ISSUE_FLAGS = Flag.CREATED_IN_FUTURE | Flag.STAGE_CHANGE_BEFORE_CREATED | Flag.STAGE_CHANGE_IN_FUTURE

#: Sentence added to the reasoning for each flag that needs explaining.
FLAG_TEXT: dict[Flag, str] = {
    Flag.OVERDUE_ROLLED: "payment was overdue, rolled to the as-of date",
    Flag.PAST_INVOICE_MOVED: "predicted invoice date was over {past_invoice_days} days in the past, "
    "moved to as-of + {past_invoice_reset_days} days, "
    "confidence -{past_invoice_penalty:.2f}",
    Flag.PAYMENT_FIXED: "payment date was not after the invoice, set to invoice + terms",
    Flag.INVOICE_DATE_ASSUMED: "invoiced stage without a date, invoice assumed on the as-of date",
    Flag.UNKNOWN_CURRENCY: "unknown currency, value left out of totals",
    Flag.NO_VALUE: "no value, left out of totals",
    Flag.NEGATIVE_VALUE: "negative value, left out of totals",
    Flag.CREATED_IN_FUTURE: "created after the as-of date (confidence -{data_issue_penalty:.2f})",
    Flag.STAGE_CHANGE_BEFORE_CREATED: "stage changed before the deal was created, "
    "time in stage counted from creation "
    "(confidence -{data_issue_penalty:.2f})",
    Flag.STAGE_CHANGE_IN_FUTURE: "stage change after the as-of date (confidence -{data_issue_penalty:.2f})",
    Flag.IN_RECEIVABLES: "its invoice is in the receivables: its cash is counted there, not here",
}

KINDS = ("forecast", "received", "not_forecast")
FORECAST, RECEIVED, NOT_FORECAST = range(3)
METHODS = ("rules", "learned", "llm", "llm->rules", "naive")

#: A deal's prediction as callers see it, name -> DuckDB type, in the order it is shown: the
#: per-deal part of ``forecast --json`` and the API, ``DealPrediction``, the command line's
#: ``--out`` file and the Forecast page's table. (The migrations keep their own literal DDL.)
PREDICTION_FIELDS: dict[str, str] = {
    "deal_id": "VARCHAR",
    "title": "VARCHAR",
    "stage": "VARCHAR",
    "pipeline": "VARCHAR",
    "owner": "VARCHAR",
    "organization": "VARCHAR",
    "kind": "VARCHAR",
    "value_base": "DOUBLE",
    "probability": "DOUBLE",
    "weighted_value": "DOUBLE",
    "predicted_invoice_date": "DATE",
    "predicted_payment_date": "DATE",
    "invoice_p10": "DATE",
    "invoice_p90": "DATE",
    "payment_p10": "DATE",
    "payment_p90": "DATE",
    "confidence": "DOUBLE",
    "method": "VARCHAR",
    "reasoning": "VARCHAR",
    "flags": "JSON",
}
DATE_OUTPUT_COLUMNS = tuple(name for name, kind in PREDICTION_FIELDS.items() if kind == "DATE")
NUMBER_OUTPUT_COLUMNS = tuple(name for name, kind in PREDICTION_FIELDS.items() if kind == "DOUBLE")
TEXT_OUTPUT_COLUMNS = tuple(name for name, kind in PREDICTION_FIELDS.items() if kind == "VARCHAR")
#: Fields the ``predictions`` table does not keep: the deal's own (in ``deals``) and its kind.
NOT_STORED = ("title", "stage", "pipeline", "owner", "organization", "kind", "probability")
#: What the ``predictions`` table keeps per deal of a stored run (beside snapshot, run and engine).
STORED_FIELDS = tuple(name for name in PREDICTION_FIELDS if name not in NOT_STORED)
#: What a refiner returns per deal (``engines.Refiner``): the fields it may change.
REFINED_FIELDS = (
    "deal_id",
    "predicted_invoice_date",
    "predicted_payment_date",
    "invoice_p10",
    "invoice_p90",
    "confidence",
    "method",
    "reasoning",
)
#: The columns of a prediction frame: the fields, then what engines and aggregation work with.
PREDICTION_COLUMNS = (
    *PREDICTION_FIELDS,
    "status",
    "invoice_reason",
    "terms_reason",
    "invoice_is_fact",
    "payment_terms_days",
    "days_in_stage",
    "flag_bits",
)


def flag_names(bits: int) -> list[str]:
    """The lower-case names of the flags set in ``bits``."""
    return [flag.name.lower() for flag in Flag if bits & flag]  # type: ignore[union-attr]
