"""The rules engine of DESIGN 5.1, columnar: a whole frame of deals at once.

``estimate_frame`` turns canonical deals into invoice-date estimates (stage table, stuck
penalties, facts from invoiced stages and invoice dates, expected close for unknown
stages, values and probabilities, payment terms); ``apply_overrides`` then derives
payment dates and enforces the rules every engine's output must obey (past invoice
moved, payment after invoice, overdue rolled, confidence clamped and rounded) and writes
the reasoning. ``predict_frame`` is the two in a row. Other engines (learned, LLM) change
the estimate of some rows and run the same ``apply_overrides``.

Only the distinct stages, organizations, pipelines and statuses are looked at in Python;
everything per deal is numpy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import (
    as_output_dates,
    compose_reasoning,
    date_array,
    factorize_ints,
    flag_where,
    flags_column,
    kind_codes,
    text_part,
)
from core.cashflow.fields import (
    FLAG_TEXT,
    FORECAST,
    KINDS,
    METHODS,
    NOT_FORECAST,
    OVERRIDE_FLAGS,
    PREDICTION_COLUMNS,
    RECEIVED,
    VALUE_FLAGS,
    Flag,
)
from core.cashflow.receivable_cash import with_receivables
from core.cashflow.receivables import Receivables

#: An engine's prediction less confident than this gives way to the stage estimate (DESIGN 5.3).
LOW_CONFIDENCE = 0.40
#: Edges of the confidence histogram in the assumptions report: everything below
#: ``LOW_CONFIDENCE`` in one bin, then tenths.
CONFIDENCE_BINS = (0.0, LOW_CONFIDENCE, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

_PASSTHROUGH = ("deal_id", "title", "pipeline", "stage", "status", "owner", "organization")
_NO_ROW = -1


def _codes(column: pd.Series) -> tuple[np.ndarray, list]:
    """Integer codes (-1 for missing) and the distinct values of a column."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, list(uniques)


def _lookup(codes: np.ndarray, per_unique: list, missing) -> np.ndarray:
    """Per-row values from per-distinct-value results; ``missing`` where the code is -1."""
    table = np.asarray([*per_unique, missing])
    return table[codes]


def flag_texts(assumptions: Assumptions) -> dict[Flag, str]:
    """The flag sentences with this profile's numbers filled in."""
    numbers = assumptions.model_dump(
        include={
            "past_invoice_days",
            "past_invoice_reset_days",
            "past_invoice_penalty",
            "data_issue_penalty",
        }
    )
    return {flag: text.format(**numbers) for flag, text in FLAG_TEXT.items()}


def estimate_frame(deals: pd.DataFrame, as_of: dt.date, assumptions: Assumptions) -> pd.DataFrame:
    """Rules estimates for every deal: invoice dates and band, confidence, value, terms, flags.

    Payment dates, overrides and the final reasoning come from ``apply_overrides``.
    """
    a = assumptions
    n = len(deals)
    today = np.datetime64(as_of, "s")
    bits = np.zeros(n, dtype=np.int64)

    # Status: lost and deleted deals are not forecast; anything else counts as open.
    status_codes, statuses = _codes(deals["status"])
    statuses = [str(s).strip().lower() for s in statuses]
    closed = _lookup(status_codes, [s in ("lost", "deleted") for s in statuses], False).astype(bool)
    won = _lookup(status_codes, [s == "won" for s in statuses], False).astype(bool)

    # Stage: matched once per distinct name.
    stage_codes, stages = _codes(deals["stage"])
    unknown_row = len(a.stages)
    stage_rows = [a.match_stage(s) for s in stages]
    row = _lookup(
        stage_codes, [unknown_row if r is None else r for r in stage_rows], unknown_row
    ).astype(np.int64)
    invoiced_stage = _lookup(stage_codes, [a.is_invoiced_stage(s) for s in stages], False).astype(bool)
    paid_stage = _lookup(stage_codes, [a.is_paid_stage(s) for s in stages], False).astype(bool)
    no_stage = _lookup(stage_codes, [not str(s).strip() for s in stages], True).astype(bool)
    unknown = (row == unknown_row) & ~invoiced_stage & ~paid_stage
    table = [*a.stages, a.unknown_stage]
    # Confidence before penalties by stage-table row. Invoiced and paid stages outside the
    # table share the unknown row; their confidence is set from the facts below.
    stage_confidence = np.array(
        [
            a.late_stage_confidence if s.late else a.base_confidence
            for s in a.stages
        ]
        + [a.late_stage_confidence if a.unknown_stage.late else a.unknown_stage_confidence]
    )
    optimistic = np.array([s.optimistic for s in table])[row]
    realistic = np.array([s.realistic for s in table])[row]
    conservative = np.array([s.conservative for s in table])[row]
    late = np.array([s.late for s in table])[row]

    # Time in stage, and dates that contradict each other.
    created = date_array(deals["created_at"])
    changed = date_array(deals["stage_changed_at"])
    created_future = created > today
    change_before_created = changed < created
    change_future = changed > today
    start = np.where(np.isnat(changed) | change_before_created, created, changed)
    age = (today - start).astype("timedelta64[D]").astype(np.float64)
    days_in_stage = np.where(np.isnan(age), 0, np.maximum(age, 0)).astype(np.int64)

    # Stuck: the longest threshold passed decides the added days and the penalty. The rules
    # are sorted longest first, so a deal past k thresholds is at rule len - k.
    passed = sum((days_in_stage > rule.over_days).astype(np.intp) for rule in a.stuck)
    levels = [_NO_ROW, *range(len(a.stuck) - 1, -1, -1)]
    add_days = np.array([0, *(a.stuck[level].add_days for level in levels[1:])])[passed]
    penalty = np.array([0.0, *(a.stuck[level].confidence_penalty for level in levels[1:])])[passed]
    stuck_level = np.array(levels)[passed]

    # The seed's order: the stuck penalty (step 2), then a late stage *sets* its confidence
    # (step 3), so a stuck late-stage deal keeps the late-stage confidence; it still gets the days.
    confidence = np.where(late, stage_confidence[row], stage_confidence[row] - penalty)
    invoice = today + (realistic + add_days).astype("timedelta64[D]")
    p10 = today + (optimistic + add_days).astype("timedelta64[D]")
    p90 = today + (conservative + add_days).astype("timedelta64[D]")

    # An unknown stage with a future expected close: that date, no stuck penalty.
    expected = date_array(deals["expected_close"])
    use_expected = unknown & (expected > today)
    invoice = np.where(use_expected, expected, invoice)
    p10 = np.where(
        use_expected, np.minimum(expected, today + np.timedelta64(a.unknown_stage.optimistic, "D")), p10
    )
    p90 = np.where(
        use_expected, np.maximum(expected, today + np.timedelta64(a.unknown_stage.conservative, "D")), p90
    )
    confidence = np.where(use_expected, a.unknown_stage_confidence, confidence)

    # Facts: an invoice date column, else the date the deal entered an invoiced stage.
    invoice_column = date_array(deals["invoice_date"])
    payment_column = date_array(deals["payment_date"])
    received = (paid_stage | ~np.isnat(payment_column)) & ~closed
    has_invoice_date = ~np.isnat(invoice_column)
    stage_fact = np.where(~np.isnat(changed), changed, date_array(deals["updated_at"]))
    assumed = invoiced_stage & ~has_invoice_date & np.isnat(stage_fact)
    stage_fact = np.where(assumed, today, stage_fact)
    is_fact = has_invoice_date | invoiced_stage
    confidence = np.where(is_fact | received, a.invoiced_confidence, confidence)
    payment = np.where(
        received,
        np.where(np.isnat(payment_column), np.where(~np.isnat(changed), changed, today), payment_column),
        np.datetime64("NaT", "s"),
    )
    # Facts replace the estimate: lost deals get no date, invoices their date (from the
    # column or the stage change), received deals without an invoice fact the column's.
    replaced = closed | is_fact | received
    known = np.where(
        closed,
        np.datetime64("NaT", "s"),
        np.where(is_fact, np.where(has_invoice_date, invoice_column, stage_fact), invoice_column),
    )
    invoice, p10, p90 = (np.where(replaced, known, x) for x in (invoice, p10, p90))
    source = _source_codes(closed, received, has_invoice_date, invoiced_stage, use_expected, unknown)

    stuck = (stuck_level != _NO_ROW) & ~use_expected & ~is_fact & ~closed & ~received
    date_issue = created_future | change_before_created | change_future
    confidence = confidence - np.where(date_issue & ~is_fact & ~received, a.data_issue_penalty, 0.0)

    for mask, flag in (
        (unknown & ~no_stage, Flag.UNKNOWN_STAGE),
        (no_stage, Flag.NO_STAGE),
        (stuck, Flag.STUCK),
        (late & ~is_fact & ~received, Flag.LATE_STAGE),
        (use_expected & ~is_fact & ~received, Flag.EXPECTED_CLOSE),
        (is_fact & ~received, Flag.INVOICED),
        (assumed, Flag.INVOICE_DATE_ASSUMED),
        (received, Flag.RECEIVED),
        (created_future, Flag.CREATED_IN_FUTURE),
        (change_before_created, Flag.STAGE_CHANGE_BEFORE_CREATED),
        (change_future, Flag.STAGE_CHANGE_IN_FUTURE),
    ):
        bits |= flag_where(mask, flag)

    value_base, value_bits = _base_values(deals, a)
    bits |= value_bits
    probability = _probabilities(deals, row, won, a)
    terms, terms_rule = _payment_terms(deals, a)

    kind = closed.astype(np.int8) * NOT_FORECAST + received.astype(np.int8) * RECEIVED  # exclusive
    bits = np.where(closed, Flag.NOT_FORECAST, bits)
    stuck_level = np.where(stuck, stuck_level, _NO_ROW)

    # One frame built at once (column by column insertion copies blocks), dates already in
    # the canonical unit so pandas does not convert them.
    return pd.DataFrame(
        {
            **{name: deals[name].array for name in _PASSTHROUGH},
            "kind": pd.Categorical.from_codes(kind, categories=list(KINDS)),
            "value_base": value_base,
            "probability": probability,
            "weighted_value": np.where(
                (bits & VALUE_FLAGS) == 0, np.nan_to_num(value_base) * probability, 0.0
            ),
            "predicted_invoice_date": as_output_dates(invoice),
            "predicted_payment_date": as_output_dates(payment),
            "invoice_p10": as_output_dates(p10),
            "invoice_p90": as_output_dates(p90),
            "confidence": np.where(closed, np.nan, confidence),
            "method": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=list(METHODS)),
            "invoice_reason": _invoice_reasons(source, stage_codes, stages, stage_rows, stuck_level, a),
            "terms_reason": _terms_reasons(terms_rule, a),
            "invoice_is_fact": is_fact & ~closed,
            "payment_terms_days": terms,
            "days_in_stage": days_in_stage,
            "flag_bits": bits,
        },
        copy=False,
    )


# Where an invoice estimate came from (codes for the reasoning text).
(
    _SOURCE_TABLE,
    _SOURCE_UNKNOWN,
    _SOURCE_EXPECTED,
    _SOURCE_INVOICE_DATE,
    _SOURCE_INVOICED,
    _SOURCE_RECEIVED,
    _SOURCE_CLOSED,
) = range(7)


def _source_codes(closed, received, has_invoice_date, invoiced_stage, use_expected, unknown) -> np.ndarray:
    """Where each invoice estimate came from: the first of these that holds, read from a
    table of every combination (one lookup instead of a chain of selects)."""
    order = (
        (closed, _SOURCE_CLOSED),
        (received, _SOURCE_RECEIVED),
        (has_invoice_date, _SOURCE_INVOICE_DATE),
        (invoiced_stage, _SOURCE_INVOICED),
        (use_expected, _SOURCE_EXPECTED),
        (unknown, _SOURCE_UNKNOWN),
    )
    case = np.zeros(len(closed), dtype=np.intp)
    for position, (mask, _) in enumerate(order):
        case |= mask.astype(np.intp) << position
    table = np.full(1 << len(order), _SOURCE_TABLE)
    for combination in range(1, len(table)):
        first = (combination & -combination).bit_length() - 1
        table[combination] = order[first][1]
    return table[case]


def _invoice_reasons(source, stage_codes, stages, stage_rows, stuck_level, a: Assumptions) -> pd.Categorical:
    """One sentence per row on where the invoice date came from, built per distinct case.

    ``stage_rows`` is the stage-table row of each distinct stage (None when unknown)."""
    n_stage = len(stages) + 1
    n_stuck = len(a.stuck) + 1
    key = (source * n_stage + (stage_codes + 1)) * n_stuck + (stuck_level + 1)
    codes, uniques = factorize_ints(key)
    texts = []
    for value in uniques.tolist():
        stuck_code, rest = value % n_stuck, value // n_stuck
        stage_code, kind = rest % n_stage - 1, rest // n_stage
        stage_name = stages[stage_code] if stage_code >= 0 else None
        matched = stage_rows[stage_code] if stage_code >= 0 else None
        rule = a.unknown_stage if matched is None else a.stages[matched]
        text = _SOURCE_TEXT[kind].format(stage=stage_name or "(none)", rule=rule, a=a)
        if stuck_code:
            stuck = a.stuck[stuck_code - 1]
            effect = (
                f"late stage, so confidence stays {a.late_stage_confidence:.2f}"
                if rule.late
                else f"confidence -{stuck.confidence_penalty:.2f}"
            )
            text += f"; over {stuck.over_days} days in stage: +{stuck.add_days} days, {effect}"
        texts.append(text)
    return text_part(codes, texts)


_SOURCE_TEXT = {
    _SOURCE_TABLE: "stage '{stage}' (stage table): invoice in {rule.realistic} days "
    "(range {rule.optimistic}-{rule.conservative})",
    _SOURCE_UNKNOWN: "stage '{stage}' is not in the stage table: invoice in {rule.realistic} days "
    "(range {rule.optimistic}-{rule.conservative}), confidence {a.unknown_stage_confidence:.2f}",
    _SOURCE_EXPECTED: "stage '{stage}' is not in the stage table: invoice on the expected close date, "
    "confidence {a.unknown_stage_confidence:.2f}",
    _SOURCE_INVOICE_DATE: "invoice date from the deal's invoice date (a fact)",
    _SOURCE_INVOICED: "stage '{stage}' means invoiced: invoice date is the stage change date (a fact)",
    _SOURCE_RECEIVED: "payment received: reported, not forecast",
    _SOURCE_CLOSED: "lost or deleted: not forecast",
}


def _terms_reasons(terms_rule: np.ndarray, a: Assumptions) -> pd.Categorical:
    texts = [
        f"payment {rule.days} days after invoice ({rule.field} matches '{rule.pattern}')"
        for rule in a.payment_rules
    ]
    texts.append(f"payment {a.default_payment_days} days after invoice (default terms)")
    codes = np.where(terms_rule < 0, len(a.payment_rules), terms_rule)
    return text_part(codes, texts)


def _payment_terms(deals: pd.DataFrame, a: Assumptions) -> tuple[np.ndarray, np.ndarray]:
    """Days from invoice to payment per deal and the payment rule used (-1: default terms)."""
    n = len(deals)
    first = np.full(n, len(a.payment_rules), dtype=np.int64)
    for field in ("organization", "pipeline"):
        rules = [(pos, rule) for pos, rule in enumerate(a.payment_rules) if rule.field == field]
        if not rules:
            continue
        codes, uniques = _codes(deals[field])
        kwargs = dict.fromkeys(("organization", "pipeline"))
        matches = []
        for value in uniques:
            kwargs[field] = value
            position = a.payment_rule_for(**kwargs)
            matches.append(
                position
                if position is not None and a.payment_rules[position].field == field
                else len(a.payment_rules)
            )
        first = np.minimum(first, _lookup(codes, matches, len(a.payment_rules)).astype(np.int64))
    days = np.array([*(rule.days for rule in a.payment_rules), a.default_payment_days])[first]
    return days.astype(np.int64), np.where(first == len(a.payment_rules), -1, first)


def _base_values(deals: pd.DataFrame, a: Assumptions) -> tuple[np.ndarray, np.ndarray]:
    """Value in the base currency (converted with the profile's rates when missing) and value flags."""
    value_base = deals["value_base"].to_numpy(dtype=np.float64, na_value=np.nan)
    value = deals["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    need = np.isnan(value_base) & ~np.isnan(value)
    bits = np.zeros(len(deals), dtype=np.int64)
    if need.any():
        codes, currencies = _codes(deals["currency"])
        known = [a.rates.get(str(c).strip().upper(), np.nan) for c in currencies]
        rates = _lookup(codes, known, a.rates.get(a.base_currency, 1.0))
        converted = value * rates.astype(np.float64)
        value_base = np.where(need, converted, value_base)
        bits |= flag_where(need & np.isnan(converted), Flag.UNKNOWN_CURRENCY)
    bits |= flag_where(np.isnan(value_base) & np.isnan(value), Flag.NO_VALUE)
    bits |= flag_where(value_base < 0, Flag.NEGATIVE_VALUE)
    return value_base, bits


def _probabilities(deals: pd.DataFrame, row: np.ndarray, won: np.ndarray, a: Assumptions) -> np.ndarray:
    """The deal's own probability, else its stage's, else 1.0; won deals are certain."""
    own = deals["probability"].to_numpy(dtype=np.float64, na_value=np.nan)
    stage = np.array([*(np.nan if s.probability is None else s.probability for s in a.stages), np.nan])[row]
    probability = np.where(np.isnan(own), np.where(np.isnan(stage), 1.0, stage), np.clip(own, 0.0, 1.0))
    return np.where(won, 1.0, probability)


def apply_overrides(frame: pd.DataFrame, as_of: dt.date, assumptions: Assumptions) -> pd.DataFrame:
    """Payment dates, the overrides every engine obeys, clamped confidence, reasoning and flags.

    Reads ``predicted_invoice_date`` (and ``predicted_payment_date`` when an engine gave
    one), ``invoice_p10/p90``, ``confidence``, ``invoice_is_fact``, ``payment_terms_days``,
    ``kind``, ``flag_bits``, ``invoice_reason``, ``terms_reason``; returns a new frame.
    """
    a = assumptions
    today = np.datetime64(as_of, "s")
    forecast = kind_codes(frame) == FORECAST
    bits = frame["flag_bits"].to_numpy(dtype=np.int64) & ~int(OVERRIDE_FLAGS)
    is_fact = frame["invoice_is_fact"].to_numpy(dtype=bool)
    terms = frame["payment_terms_days"].to_numpy(dtype=np.int64) * np.timedelta64(86400, "s")
    invoice = date_array(frame["predicted_invoice_date"])
    p10 = date_array(frame["invoice_p10"])
    p90 = date_array(frame["invoice_p90"])
    payment = date_array(frame["predicted_payment_date"])
    confidence = frame["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)

    # A guessed invoice date long past is not credible: as-of + 7, less confidence.
    moved = forecast & ~is_fact & (invoice < today - np.timedelta64(a.past_invoice_days, "D"))
    reset = today + np.timedelta64(a.past_invoice_reset_days, "D")
    invoice = np.where(moved, reset, invoice)
    p10 = np.where(moved, np.minimum(p10, reset), p10)
    p90 = np.where(moved, np.maximum(p90, reset), p90)
    confidence = np.where(
        moved, np.maximum(confidence - a.past_invoice_penalty, a.confidence_min), confidence
    )

    # Payment = invoice + terms; a given payment date must come after the invoice.
    given = forecast & ~np.isnat(payment)
    fixed = given & ~(payment > invoice)
    payment = np.where(forecast & (~given | fixed), invoice + terms, payment)
    overdue = forecast & (payment < today)
    payment = np.where(overdue, today, payment)
    payment_p10 = np.where(forecast, np.maximum(np.minimum(p10 + terms, payment), today), payment)
    payment_p90 = np.where(forecast, np.maximum(p90 + terms, payment), payment)

    bits |= flag_where(moved, Flag.PAST_INVOICE_MOVED)
    bits |= flag_where(fixed, Flag.PAYMENT_FIXED)
    bits |= flag_where(overdue, Flag.OVERDUE_ROLLED)
    confidence = np.round(np.clip(confidence, a.confidence_min, a.confidence_max), 2)

    show_terms = pd.Categorical(frame["terms_reason"]).copy()
    show_terms[~forecast] = np.nan
    computed = {
        "predicted_invoice_date": as_output_dates(invoice),
        "predicted_payment_date": as_output_dates(payment),
        "invoice_p10": as_output_dates(p10),
        "invoice_p90": as_output_dates(p90),
        "payment_p10": as_output_dates(payment_p10),
        "payment_p90": as_output_dates(payment_p90),
        "confidence": confidence,
        "flag_bits": bits,
        "reasoning": compose_reasoning(
            [pd.Categorical(frame["invoice_reason"]), show_terms], bits, flag_texts(a)
        ),
        "flags": flags_column(bits),
    }
    # A new frame of the prediction columns, the unchanged ones shared with ``frame``.
    return pd.DataFrame(
        {name: computed[name] if name in computed else frame[name] for name in PREDICTION_COLUMNS},
        index=frame.index,
        copy=False,
    )


def predict_frame(
    deals: pd.DataFrame, as_of: dt.date, assumptions: Assumptions, receivables: Receivables | None = None
) -> pd.DataFrame:
    """Rules predictions for a canonical deals frame: one row per deal, in input order.

    With ``receivables``, deals are paid like their customer's learned behaviour and a deal
    whose invoice is already open is flagged (``with_receivables``). One pass over the whole
    frame: row chunks in threads cost as much to stitch back together (a copy of every
    column, categories merged) as the second core saved."""
    estimates = with_receivables(estimate_frame(deals, as_of, assumptions), deals, receivables)
    return apply_overrides(estimates, as_of, assumptions)
