"""Open invoices as cash-in items, and deals paid the way their customer pays (see ``receivables``).

The numbers behind ``core.cashflow.receivables``: that module picks the invoices snapshot a
forecast uses and loads nothing heavy when there is none; this one predicts each open invoice's
payment date from the customer's behaviour (deals take their customer's learned terms in
``rules.with_receivables``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.behaviour import BehaviourModel, due_dates, organization_keys
from core.cashflow.columns import as_output_dates, compose_reasoning, text_part
from core.cashflow.receivables import ReceivableFlag, Receivables
from core.receivables.invoices import open_at

METHOD = "receivable"
#: Confidence of a receivable's payment date: the customer's own figures, or all customers'.
LEARNED_CONFIDENCE, FALLBACK_CONFIDENCE = 0.80, 0.60
#: Taken off the confidence of a disputed invoice, and of one already past its predicted date.
DISPUTE_PENALTY, OVERDUE_PENALTY = 0.15, 0.10

RECEIVABLE_COLUMNS = (
    "invoice_id",
    "customer",
    "deal_id",
    "invoice_date",
    "due_date",
    "amount",
    "currency",
    "amount_base",
    "disputed",
    "days_overdue",
    "predicted_payment_date",
    "payment_p10",
    "payment_p90",
    "confidence",
    "method",
    "source",
    "reasoning",
    "flags",
    "flag_bits",
)

@dataclass(frozen=True)
class PaymentDates:
    """Predicted payment dates of invoices (``datetime64[D]``) and what they came from."""

    predicted: np.ndarray
    p10: np.ndarray
    p90: np.ndarray
    own: np.ndarray  # the customer's own figures (else all customers')
    due_usable: np.ndarray
    figures: pd.DataFrame


def predict_payment_dates(invoices: pd.DataFrame, model: BehaviourModel) -> PaymentDates:
    """Due date + the customer's days late (median, P10, P90), + the dispute effect when disputed.

    Never before the invoice date. Nothing about the as-of date: callers roll overdue dates."""
    due, usable = due_dates(invoices, model.default_terms)
    figures, own = model.lookup(organization_keys(invoices["customer"]))
    effect = np.where(invoices["disputed"].to_numpy(dtype=bool), figures["dispute_effect_days"], 0.0)
    mid = np.nan_to_num(figures["median_days_late"].to_numpy()) + effect
    low = np.minimum(np.nan_to_num(figures["p10_days_late"].to_numpy()) + effect, mid)
    high = np.maximum(np.nan_to_num(figures["p90_days_late"].to_numpy()) + effect, mid)
    issued = invoices["invoice_date"].to_numpy(dtype="datetime64[D]")

    def shift(days: np.ndarray) -> np.ndarray:
        return np.maximum(due + days.astype(np.int64).astype("timedelta64[D]"), issued)

    return PaymentDates(
        predicted=shift(np.round(mid)),
        p10=shift(np.floor(low)),
        p90=shift(np.ceil(high)),
        own=own,
        due_usable=usable,
        figures=figures,
    )


def predict_receivables(receivables: Receivables, assumptions: Assumptions) -> pd.DataFrame:
    """One cash-in item (``RECEIVABLE_COLUMNS``) per invoice open at the as-of date."""
    as_of, model = receivables.as_of, receivables.behaviour
    invoices = receivables.invoices
    paid = invoices["paid_date"].to_numpy(dtype="datetime64[D]")
    frame = invoices[open_at(invoices, as_of)].reset_index(drop=True)
    paid_later = paid[open_at(invoices, as_of)] > np.datetime64(as_of, "D")
    dates = predict_payment_dates(frame, model)
    today = np.datetime64(as_of, "D")
    overdue = dates.predicted < today
    predicted = np.maximum(dates.predicted, today)
    p10 = np.maximum(dates.p10, today)
    p90 = np.where(overdue, predicted + (dates.p90 - dates.predicted), dates.p90)
    disputed = frame["disputed"].to_numpy(dtype=bool)
    amount = frame["amount"].to_numpy(dtype=np.float64)
    no_rate = np.isnan(frame["amount_base"].to_numpy(dtype=np.float64, na_value=np.nan))

    bits = np.zeros(len(frame), dtype=np.int64)
    for flag, rows in (
        (ReceivableFlag.OVERDUE_ROLLED, overdue),
        (ReceivableFlag.DISPUTED, disputed),
        (ReceivableFlag.CREDIT_NOTE, amount < 0),
        (ReceivableFlag.NO_DUE_DATE, ~dates.due_usable),
        (ReceivableFlag.UNKNOWN_CURRENCY, no_rate),
        (ReceivableFlag.PAID_AFTER_AS_OF, paid_later),
    ):
        bits |= np.where(rows, int(flag), 0)
    confidence = (
        np.where(dates.own, LEARNED_CONFIDENCE, FALLBACK_CONFIDENCE)
        - np.where(disputed, DISPUTE_PENALTY, 0.0)
        - np.where(overdue, OVERDUE_PENALTY, 0.0)
    )
    due, _ = due_dates(frame, model.default_terms)
    out = frame.loc[
        :, ["invoice_id", "customer", "deal_id", "invoice_date", "due_date", "amount", "currency"]
    ]
    out["amount_base"] = frame["amount_base"]
    out["disputed"] = disputed
    out["days_overdue"] = (today - due).astype(np.int64)
    out["predicted_payment_date"] = as_output_dates(predicted)
    out["payment_p10"] = as_output_dates(p10)
    out["payment_p90"] = as_output_dates(p90)
    out["confidence"] = np.round(
        np.clip(confidence, assumptions.confidence_min, assumptions.confidence_max), 2
    )
    out["method"] = METHOD
    out["source"] = np.where(dates.own, "learned", "fallback")
    out["reasoning"] = compose_reasoning(
        [_customer_reasons(frame, dates, model)], bits, _flag_texts(model.default_terms)
    )
    out["flags"] = flags_column_for(bits)
    out["flag_bits"] = bits
    return out.loc[:, list(RECEIVABLE_COLUMNS)]


def flags_column_for(bits: np.ndarray) -> pd.Categorical:
    """Comma-separated receivable flag names per row."""
    codes, uniques = pd.factorize(bits)
    texts = [",".join(f.name.lower() for f in ReceivableFlag if int(value) & f) for value in uniques]
    return text_part(codes, texts)


def _flag_texts(default_terms: int) -> dict:
    return {
        ReceivableFlag.OVERDUE_ROLLED: "the predicted payment date had passed: rolled to the as-of date",
        ReceivableFlag.CREDIT_NOTE: "credit note: negative cash",
        ReceivableFlag.NO_DUE_DATE: f"no usable due date: due {default_terms} days after the invoice",
        ReceivableFlag.UNKNOWN_CURRENCY: "no rate for its currency: left out of cash totals",
        ReceivableFlag.PAID_AFTER_AS_OF: "the export shows a later payment: open as of the as-of date",
    }


def _days(days: float) -> str:
    """``5 days late``, ``3 days early`` or ``on the due date``."""
    rounded = round(float(days))
    if rounded == 0:
        return "on the due date"
    return f"{abs(rounded)} day{'s' if abs(rounded) != 1 else ''} {'late' if rounded > 0 else 'early'}"


def _customer_reasons(frame: pd.DataFrame, dates: PaymentDates, model: BehaviourModel) -> pd.Categorical:
    """Per invoice: whose figures set its date, built once per (customer, disputed) pair."""
    names = frame["customer"].astype(object).where(frame["customer"].notna(), None)
    disputed = frame["disputed"].to_numpy(dtype=bool)
    key = pd.MultiIndex.from_arrays([names.fillna("").to_numpy(), disputed, dates.own])
    codes, uniques = pd.factorize(key)
    _, first = np.unique(codes, return_index=True)  # codes number uniques in order of appearance
    figures = {name: dates.figures[name].to_numpy()[first] for name in dates.figures.columns}
    overall = model.overall
    texts = []
    for position, (name, is_disputed, own) in enumerate(uniques):
        row = {column: values[position] for column, values in figures.items()}
        if own:
            text = (
                f"customer '{name}' pays a median {_days(row['median_days_late'])} "
                f"(P10 {_days(row['p10_days_late'])}, P90 {_days(row['p90_days_late'])}; "
                f"{int(row['invoices'])} paid invoices)"
            )
        else:
            who = f"customer '{name}' has too little payment history" if name else "no customer"
            text = (
                f"{who} ({model.min_samples} paid invoices needed): all customers' median used, "
                f"{_days(overall.median_days_late if overall.invoices else 0.0)}"
            )
        if is_disputed:
            text += f"; disputed: {row['dispute_effect_days']:+.0f} days (dispute effect)"
        texts.append(text)
    return text_part(codes, texts)


def receivable_records(frame: pd.DataFrame) -> list[dict]:
    """Receivable items as plain dicts (dates as ``datetime.date``, flags as lists) for JSON."""
    records = []
    for row in frame.drop(columns=["flag_bits"]).to_dict("records"):
        for name, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[name] = value.date()
            elif value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
                row[name] = None
            elif isinstance(value, np.generic):
                row[name] = value.item()
        row["flags"] = row["flags"].split(",") if row["flags"] else []
        records.append(row)
    return records
