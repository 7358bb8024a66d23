"""The SQL of the rules engine (``core.cashflow.rules``): three SELECTs, each over the one before.

- ``estimate_sql``: stage table, stuck penalties, facts from invoiced stages and invoice
  dates, expected close for unknown stages, values and probabilities, payment terms, flags;
- ``receivables_sql``: forecast deals paid like their customer's learned behaviour, deals
  whose invoice is issued flagged ``in_receivables``;
- ``overrides_sql``: what every engine's output obeys (past invoice moved, payment after
  invoice, overdue rolled, confidence clamped and rounded).

What depends on a distinct value (stage names, status words, payment-rule expressions, rates,
customer keys) is decided in Python and joined as a small literal table. A SQL NULL is
what NaT/NaN were: a comparison with it holds nowhere (``coalesce(..., FALSE)``), and the
minimum or maximum of it is NULL (``_least``/``_greatest``). Each layer only names what the
layer below computed: DuckDB copies an alias used in its own SELECT, which costs planning time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from core.cashflow.assumptions import Assumptions
from core.cashflow.fields import OVERRIDE_FLAGS, VALUE_FLAGS, Flag
from core.cashflow.sql import literal

if TYPE_CHECKING:
    from core.cashflow.receivables import Receivables

#: The deal's own columns a prediction carries unchanged.
PASSTHROUGH = ("deal_id", "title", "pipeline", "stage", "status", "owner", "organization")
#: What the rules read of each deal: a source has these columns (dates as DATE or TIMESTAMP), and
#: ``_row``, the position a prediction keeps (the relation's own order is not guaranteed).
RULE_INPUTS = (
    *PASSTHROUGH,
    "value",
    "currency",
    "value_base",
    "probability",
    "created_at",
    "updated_at",
    "stage_changed_at",
    "expected_close",
    "invoice_date",
    "payment_date",
)
#: The dates an estimate gives and the overrides settle.
ESTIMATE_DATES = ("predicted_invoice_date", "predicted_payment_date", "invoice_p10", "invoice_p90")

# Where an invoice estimate came from (``invoice_source``: codes for the reasoning text).
(
    SOURCE_TABLE,
    SOURCE_UNKNOWN,
    SOURCE_EXPECTED,
    SOURCE_INVOICE_DATE,
    SOURCE_INVOICED,
    SOURCE_RECEIVED,
    SOURCE_CLOSED,
) = range(7)


def _table(columns: dict[str, str], rows: list[tuple]) -> str:
    """A literal table (``columns``: name -> SQL type) as a subquery; a first row of typed NULLs
    (skipped) fixes the types, so an empty table works too."""
    typed = ", ".join(f"CAST(NULL AS {kind})" for kind in columns.values())
    values = "".join(f", ({', '.join(literal(v) for v in row)})" for row in rows)
    return f"(SELECT * FROM (VALUES ({typed}){values}) AS t({', '.join(columns)}) OFFSET 1)"


def _list(values: list) -> str:
    return f"[{', '.join(literal(v) for v in values)}]"


def looked_up(a: Assumptions, receivables: bool) -> list[str]:
    """The columns whose distinct values the estimate (and the receivables step) look up."""
    fields = {rule.field for rule in a.payment_rules}
    return [
        "stage",
        "status",
        "currency",
        *(["organization"] if receivables or "organization" in fields else []),
        *(["pipeline"] if "pipeline" in fields else []),
    ]


def _stage_lookup(a: Assumptions, stages: list[str], as_of: dt.date) -> str:
    """What the estimate reads of each distinct stage, and of a missing one (key NULL): its code
    (position in ``stages``, -1 for none), whether it means invoiced or paid or is not in the
    stage table (``unknown``), the flags it sets, and its stage-table row (the unknown stage's
    when not in the table) with the days as dates from ``as_of``."""
    rows = []
    for code, name in [*enumerate(stages), (-1, None)]:
        matched = None if name is None else a.match_stage(name)
        invoiced = name is not None and a.is_invoiced_stage(name)
        paid = name is not None and a.is_paid_stage(name)
        no_stage = name is None or not name.strip()
        unknown = matched is None and not invoiced and not paid
        rule = a.unknown_stage if matched is None else a.stages[matched]
        if rule.late:
            confidence = a.late_stage_confidence
        else:
            confidence = a.unknown_stage_confidence if matched is None else a.base_confidence
        flags = (Flag.UNKNOWN_STAGE if unknown and not no_stage else 0) | (Flag.NO_STAGE if no_stage else 0)
        days = (rule.optimistic, rule.realistic, rule.conservative)
        rows.append(
            (
                name,
                code,
                invoiced,
                paid,
                unknown,
                int(flags),
                rule.late,
                *(as_of + dt.timedelta(days=d) for d in days),
                float(confidence),
                1.0 if rule.probability is None or matched is None else float(rule.probability),
            )
        )
    columns = {
        "stage_key": "VARCHAR",
        "stage_code": "INTEGER",
        "_invoiced_stage": "BOOLEAN",
        "_paid_stage": "BOOLEAN",
        "_unknown": "BOOLEAN",
        "_stage_flags": "BIGINT",
        "_late": "BOOLEAN",
        "_optimistic": "DATE",
        "_realistic": "DATE",
        "_conservative": "DATE",
        "_stage_confidence": "DOUBLE",
        "_stage_probability": "DOUBLE",
    }
    return _table(columns, rows)


def _status_lookup(statuses: list[str]) -> str:
    """Per distinct status (and a missing one): lost or deleted (``closed``), won."""
    words = [s.strip().lower() for s in statuses]
    rows = [(s, w in ("lost", "deleted"), w == "won") for s, w in zip(statuses, words, strict=True)]
    rows.append((None, False, False))
    return _table({"status_key": "VARCHAR", "_closed": "BOOLEAN", "_won": "BOOLEAN"}, rows)


def _rate_lookup(a: Assumptions, currencies: list[str]) -> str:
    """Base-currency units per unit of each currency (NULL: unknown); no currency is the base."""
    rates = [a.rates.get(c.strip().upper()) for c in currencies]
    rows = [(c, None if r is None else float(r)) for c, r in zip(currencies, rates, strict=True)]
    rows.append((None, float(a.rates.get(a.base_currency, 1.0))))
    return _table({"currency_key": "VARCHAR", "_rate": "DOUBLE"}, rows)


def _rule_lookup(a: Assumptions, name: str, values: list[str]) -> str:
    """Per distinct organization or pipeline (``name``) a payment rule of that field matches:
    the first such rule."""
    rows = []
    for value in values:
        position = a.payment_rule_for(**{"organization": None, "pipeline": None, name: value})
        if position is not None and a.payment_rules[position].field == name:
            rows.append((value, position))
    return _table({f"{name}_key": "VARCHAR", f"{name}_rule": "INTEGER"}, rows)


def _when(condition: str, flag: Flag) -> str:
    return f"CASE WHEN {condition} THEN {int(flag)} ELSE 0 END"


def _flags(pairs: tuple[tuple[str, Flag], ...]) -> str:
    return "(" + " | ".join(_when(condition, flag) for condition, flag in pairs) + ")"


def _stuck(a: Assumptions, values: list[str], otherwise: str) -> str:
    """A CASE giving ``values[k]`` for a deal past stuck rule k's threshold (the longest
    passed decides: the rules are sorted longest first)."""
    whens = " ".join(
        f"WHEN _days > {rule.over_days} THEN {value}" for rule, value in zip(a.stuck, values, strict=True)
    )
    return f"CASE {whens} ELSE {otherwise} END" if whens else otherwise


def estimate_sql(source: str, a: Assumptions, as_of: dt.date, distinct: dict[str, list[str]]) -> str:
    """The rules estimate of every row of ``source`` (``RULE_INPUTS`` and ``_row``): the
    passthrough columns, ``kind_code`` (position in ``KINDS``), ``value_base``, ``probability``,
    ``weighted_value``, the ``ESTIMATE_DATES``, ``confidence``, the reason codes
    (``invoice_source``, ``stage_code``, ``stuck_level``, ``terms_rule``), ``invoice_is_fact``,
    ``payment_terms_days``, ``days_in_stage`` and ``flag_bits``."""
    today = literal(as_of)
    none = len(a.payment_rules)
    # Every value of these lookups is in its table, a missing one too (NULL: IS NOT DISTINCT FROM).
    joins = [
        f"LEFT JOIN {table} {alias} ON s.{name} IS NOT DISTINCT FROM {alias}.{name}_key"
        for table, alias, name in (
            (_stage_lookup(a, distinct["stage"], as_of), "st", "stage"),
            (_status_lookup(distinct["status"]), "ss", "status"),
            (_rate_lookup(a, distinct["currency"]), "cr", "currency"),
        )
    ]
    first_rule = [str(none)]
    for name, alias in (("organization", "ob"), ("pipeline", "pb")):
        if any(rule.field == name for rule in a.payment_rules):
            joins.append(
                f"LEFT JOIN {_rule_lookup(a, name, distinct[name])} {alias} ON s.{name} = {alias}.{name}_key"
            )
            first_rule.append(f"coalesce({alias}.{name}_rule, {none})")
    terms_days = _list([*(rule.days for rule in a.payment_rules), a.default_payment_days])
    unknown = a.unknown_stage
    earliest = literal(as_of + dt.timedelta(days=unknown.optimistic))
    latest = literal(as_of + dt.timedelta(days=unknown.conservative))
    stuck_when = "FALSE" if not a.stuck else f"_days > {a.stuck[-1].over_days}"
    flags = " | ".join(
        (
            "_stage_flags",
            "_date_flags",
            f"CASE WHEN _received THEN {int(Flag.RECEIVED)} WHEN _is_fact THEN {int(Flag.INVOICED)} "
            "ELSE 0 END",
            # what is settled is neither late, expected nor stuck
            f"""CASE WHEN _settled THEN 0
                     ELSE CASE WHEN _late THEN {int(Flag.LATE_STAGE)} ELSE 0 END
                        | CASE WHEN _use_expected THEN {int(Flag.EXPECTED_CLOSE)}
                               WHEN {stuck_when} THEN {int(Flag.STUCK)} ELSE 0 END END""",
            f"""CASE WHEN _invoiced_stage AND _invoice_column IS NULL AND _changed IS NULL
                          AND _updated IS NULL THEN {int(Flag.INVOICE_DATE_ASSUMED)} ELSE 0 END""",
            f"""CASE WHEN value_base < 0 THEN {int(Flag.NEGATIVE_VALUE)} WHEN value_base IS NOT NULL THEN 0
                     WHEN _value IS NULL THEN {int(Flag.NO_VALUE)} ELSE {int(Flag.UNKNOWN_CURRENCY)} END""",
        )
    )
    date_flags = " | ".join(
        f"CASE WHEN {condition} THEN {int(flag)} ELSE 0 END"
        for condition, flag in (
            (f"_created > {today}", Flag.CREATED_IN_FUTURE),
            ("_changed < _created", Flag.STAGE_CHANGE_BEFORE_CREATED),
            (f"_changed > {today}", Flag.STAGE_CHANGE_IN_FUTURE),
        )
    )
    deal = f"""
        SELECT s._row, {", ".join(f"s.{n}" for n in PASSTHROUGH)}, s.value AS _value,
            s.value_base AS _given_base, s.probability AS _own_probability,
            CAST(s.created_at AS DATE) AS _created, CAST(s.stage_changed_at AS DATE) AS _changed,
            CAST(s.updated_at AS DATE) AS _updated, CAST(s.expected_close AS DATE) AS _expected,
            CAST(s.invoice_date AS DATE) AS _invoice_column, CAST(s.payment_date AS DATE) AS _payment_column,
            st.* EXCLUDE (stage_key), ss._closed, ss._won, cr._rate,
            least({", ".join(first_rule)}) AS terms_rule
        FROM {source} s {" ".join(joins)}
        OFFSET 0
    """
    # Dates that contradict each other (a missing one contradicts nothing); what the stage and
    # the columns establish (``_known``: the invoice date a fact gives: the column's, else an
    # invoiced stage's change, else as-of); days in stage from the stage change, else creation.
    facts = f"""
        SELECT *, {date_flags} AS _date_flags,
            greatest({today} - CASE WHEN _changed < _created THEN _created
                                    ELSE coalesce(_changed, _created) END, 0) AS _days,
            (_paid_stage OR _payment_column IS NOT NULL) AND NOT _closed AS _received,
            _invoice_column IS NOT NULL OR _invoiced_stage AS _is_fact,
            _unknown AND coalesce(_expected > {today}, FALSE) AS _use_expected,
            CASE WHEN _closed THEN NULL WHEN _invoice_column IS NOT NULL THEN _invoice_column
                 WHEN _invoiced_stage THEN coalesce(_changed, _updated, {today}) END AS _known,
            coalesce(_given_base, _value * _rate) AS value_base
        FROM ({deal})
    """
    # Facts replace the estimate: lost deals get no date, invoices their date, received deals
    # without an invoice fact the column's. The stuck rules only move what the stage table dates.
    settled = f"""
        SELECT *, _is_fact OR _received AS _settled, _closed OR _is_fact OR _received AS _replaced,
            {_stuck(a, [str(k) for k in range(len(a.stuck))], "-1")} AS _stuck_level,
            {_stuck(a, [str(rule.add_days) for rule in a.stuck], "0")} AS _add_days
        FROM ({facts})
    """
    flagged = f"""
        SELECT *, CASE WHEN _closed THEN {int(Flag.NOT_FORECAST)} ELSE {flags} END AS flag_bits,
            CASE WHEN _won THEN 1.0e0 WHEN _own_probability IS NULL THEN _stage_probability
                 ELSE least(greatest(_own_probability, 0.0e0), 1.0e0) END AS _probability
        FROM ({settled})
    """
    # The seed's order: the stuck penalty, then a late stage *sets* its confidence (a stuck
    # late-stage deal keeps the late-stage confidence; it still gets the days).
    penalty = _stuck(a, [literal(float(rule.confidence_penalty)) for rule in a.stuck], "0.0e0")
    return f"""
        SELECT _row, {", ".join(PASSTHROUGH)},
            CASE WHEN _closed THEN 2 WHEN _received THEN 1 ELSE 0 END AS kind_code,
            value_base, _probability AS probability,
            CASE WHEN flag_bits & {int(VALUE_FLAGS)} = 0 THEN coalesce(value_base, 0.0e0) * _probability
                 ELSE 0.0e0 END AS weighted_value,
            CASE WHEN _replaced THEN _known WHEN _use_expected THEN _expected
                 ELSE _realistic + _add_days END AS predicted_invoice_date,
            CASE WHEN _received THEN coalesce(_payment_column, _changed, {today}) END
                AS predicted_payment_date,
            CASE WHEN _replaced THEN _known WHEN _use_expected THEN least(_expected, {earliest})
                 ELSE _optimistic + _add_days END AS invoice_p10,
            CASE WHEN _replaced THEN _known WHEN _use_expected THEN greatest(_expected, {latest})
                 ELSE _conservative + _add_days END AS invoice_p90,
            CASE WHEN _closed THEN NULL WHEN _settled THEN {literal(float(a.invoiced_confidence))}
                 ELSE CASE WHEN _use_expected THEN {literal(float(a.unknown_stage_confidence))}
                           WHEN _late THEN _stage_confidence ELSE _stage_confidence - {penalty} END
                      - CASE WHEN _date_flags <> 0 THEN {literal(float(a.data_issue_penalty))} ELSE 0.0e0 END
            END AS confidence,
            CASE WHEN _closed THEN {SOURCE_CLOSED} WHEN _received THEN {SOURCE_RECEIVED}
                 WHEN _invoice_column IS NOT NULL THEN {SOURCE_INVOICE_DATE}
                 WHEN _invoiced_stage THEN {SOURCE_INVOICED}
                 WHEN _use_expected THEN {SOURCE_EXPECTED} WHEN _unknown THEN {SOURCE_UNKNOWN}
                 ELSE {SOURCE_TABLE} END AS invoice_source,
            stage_code,
            CASE WHEN flag_bits & {int(Flag.STUCK)} <> 0 THEN _stuck_level ELSE -1 END AS stuck_level,
            terms_rule, _is_fact AND NOT _closed AS invoice_is_fact,
            CAST({terms_days}[terms_rule + 1] AS BIGINT) AS payment_terms_days,
            CAST(_days AS BIGINT) AS days_in_stage,
            flag_bits
        FROM ({flagged})
    """


def learned_lookup(receivables: Receivables, organizations: list[str]) -> tuple[str, str, list[str]]:
    """Per distinct organization whose customer the receivables learned: its position in
    ``behaviour.learned()`` and its median days to pay; the deal ids whose invoice is issued;
    and the text of each learned customer's terms."""
    import numpy as np

    from core.cashflow.behaviour import organization_key

    learned = receivables.behaviour.learned()
    position = {key: p for p, key in enumerate(learned.index)}
    days = np.round(learned["median_days_to_pay"].to_numpy(dtype=np.float64)).astype(np.int64)
    texts = [
        f"payment {d} days after invoice (median of {n} paid invoices of customer '{name}')"
        for d, n, name in zip(days, learned["invoices"], learned["customer"], strict=True)
    ]
    found = ((org, position.get(organization_key(org), -1)) for org in organizations)
    rows = [(org, p, int(days[p])) for org, p in found if p >= 0]
    table = _table({"learned_key": "VARCHAR", "learned_position": "INTEGER", "learned_days": "BIGINT"}, rows)
    linked = _table({"linked_id": "VARCHAR"}, [(str(i),) for i in receivables.linked_deal_ids])
    return table, linked, texts


def receivables_sql(source: str, learned: str, linked: str) -> str:
    """``source`` (an estimate) with its customer's learned days to pay as the payment terms of a
    forecast deal (``learned_terms``: the customer's position in ``learned_lookup``'s texts, else
    -1), and ``in_receivables`` where the deal's invoice is issued."""
    return f"""
        SELECT * EXCLUDE (_days) REPLACE (
            CASE WHEN learned_terms >= 0 THEN _days ELSE payment_terms_days END AS payment_terms_days,
            flag_bits | CASE WHEN kind_code = 0 AND deal_id IN (SELECT linked_id FROM {linked})
                             THEN {int(Flag.IN_RECEIVABLES)} ELSE 0 END AS flag_bits
        )
        FROM (
            SELECT e.*,
                CASE WHEN e.kind_code = 0 THEN coalesce(l.learned_position, -1) ELSE -1 END AS learned_terms,
                l.learned_days AS _days
            FROM {source} e LEFT JOIN {learned} l ON e.organization = l.learned_key
            OFFSET 0
        )
    """


def overrides_sql(source: str, as_of: dt.date, a: Assumptions) -> str:
    """The overrides every engine obeys, over ``source`` (``kind_code``, ``flag_bits``,
    ``invoice_is_fact``, ``payment_terms_days``, the ``ESTIMATE_DATES``, ``confidence``): the
    same rows with the dates, flags and confidence settled and ``payment_p10``/``payment_p90``.

    A missing date or confidence stays missing, as NaT and NaN did in numpy's minimum and
    maximum: the earlier or later of two values is written as two comparisons, and neither
    holds when a side is NULL."""
    today = literal(as_of)
    reset = literal(as_of + dt.timedelta(days=a.past_invoice_reset_days))
    too_old = literal(as_of - dt.timedelta(days=a.past_invoice_days))
    low, high = literal(float(a.confidence_min)), literal(float(a.confidence_max))
    penalised = f"confidence - {literal(float(a.past_invoice_penalty))}"
    flags = _flags(
        (
            ("_moved", Flag.PAST_INVOICE_MOVED),
            ("_fixed", Flag.PAYMENT_FIXED),
            ("_overdue", Flag.OVERDUE_ROLLED),
        )
    )
    helpers = ("_forecast", "_terms", "_given_payment", "_estimated", "_early", "_late", "_moved",
               "_invoice", "_p10", "_p90", "_confidence", "_on_terms", "_fixed", "_planned", "_overdue",
               "_payment", "_set", "_paid_early", "_paid_late")
    # A guessed invoice date long past is not credible: as-of + 7, less confidence.
    moved = f"""
        SELECT *, kind_code = 0 AS _forecast, CAST(payment_terms_days AS INTEGER) AS _terms,
            CAST(predicted_payment_date AS DATE) AS _given_payment,
            CAST(predicted_invoice_date AS DATE) AS _estimated,
            CAST(invoice_p10 AS DATE) AS _early, CAST(invoice_p90 AS DATE) AS _late,
            kind_code = 0 AND NOT invoice_is_fact
                AND coalesce(CAST(predicted_invoice_date AS DATE) < {too_old}, FALSE) AS _moved
        FROM {source}
    """
    # Payment = invoice + terms, unless a given payment date comes after the invoice.
    shifted = f"""
        SELECT *,
            CASE WHEN _moved THEN {reset} ELSE _estimated END AS _invoice,
            CASE WHEN NOT _moved OR _early <= {reset} THEN _early WHEN _early > {reset} THEN {reset} END
                AS _p10,
            CASE WHEN NOT _moved OR _late >= {reset} THEN _late WHEN _late < {reset} THEN {reset} END
                AS _p90,
            CASE WHEN NOT _moved THEN confidence WHEN {penalised} >= {low} THEN {penalised}
                 WHEN {penalised} < {low} THEN {low} END AS _confidence
        FROM ({moved})
    """
    planned = f"""
        SELECT *, _on_terms AND _given_payment IS NOT NULL AS _fixed,
            CASE WHEN _on_terms THEN _invoice + _terms ELSE _given_payment END AS _planned
        FROM (SELECT *, _forecast AND NOT coalesce(_given_payment > _invoice, FALSE) AS _on_terms
              FROM ({shifted}))
    """
    paid = f"""
        SELECT *, CASE WHEN _overdue THEN {today} ELSE _planned END AS _payment,
            CAST({flags} AS BIGINT) AS _set, _p10 + _terms AS _paid_early, _p90 + _terms AS _paid_late
        FROM (SELECT *, _forecast AND coalesce(_planned < {today}, FALSE) AS _overdue FROM ({planned}))
    """
    return f"""
        SELECT * EXCLUDE ({", ".join(helpers)})
        REPLACE (
            _invoice AS predicted_invoice_date, _payment AS predicted_payment_date,
            _p10 AS invoice_p10, _p90 AS invoice_p90,
            round_even(CASE WHEN _confidence < {low} THEN {low} WHEN _confidence > {high} THEN {high}
                            ELSE _confidence END, 2) AS confidence,
            (flag_bits & {~int(OVERRIDE_FLAGS)}) | _set AS flag_bits
        ),
        CASE WHEN NOT _forecast THEN _payment
             WHEN _paid_early <= _payment THEN greatest(_paid_early, {today})
             WHEN _paid_early > _payment THEN greatest(_payment, {today}) END AS payment_p10,
        CASE WHEN NOT _forecast THEN _payment WHEN _paid_late >= _payment THEN _paid_late
             WHEN _paid_late < _payment THEN _payment END AS payment_p90
        FROM ({paid})
    """
