"""The rules engine of DESIGN 5.1 as DuckDB SQL: every deal of a relation at once.

Three steps, each one SELECT over the one before: the *estimate* (stage table, stuck
penalties, facts from invoiced stages and invoice dates, expected close for unknown
stages, values and probabilities, payment terms, flags), the *receivables* (deals paid
like their customer's learned behaviour, deals whose invoice is open flagged) and the
*overrides* every engine's output obeys (past invoice moved, payment after invoice,
overdue rolled, confidence clamped and rounded).

Two ways in, one SQL:

- ``predictions_relation`` runs the three over a SQL source (the stored ``deals`` table on
  the store's connection): the SELECT of per-deal predictions (a relation when asked), and
  ``to_frame()``;
- the pandas functions the other engines call (``estimate_frame``, ``with_receivables``,
  ``apply_overrides``, ``predict_frame``) run the same steps over a frame in a private
  in-memory database (``core.cashflow.sql``) and return today's prediction frames.

Only the distinct stages, statuses, currencies, organizations and pipelines are looked at in
Python (stage names, status words, payment-rule expressions, rates, customer keys): they go
into the SQL as small literal tables joined per deal. Reasons travel as integer codes;
their texts are made per distinct code when a frame is built. No pandas at import: a
command-line forecast reads the relation without it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.cashflow import rules_sql as q
from core.cashflow.assumptions import Assumptions
from core.cashflow.fields import FLAG_TEXT, KINDS, METHODS, PREDICTION_COLUMNS, Flag
from core.cashflow.rules_sql import ESTIMATE_DATES, PASSTHROUGH, RULE_INPUTS
from core.cashflow.sql import Select, frames, literal

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from core.cashflow.receivables import Receivables

__all__ = [
    "RULE_INPUTS",
    "RulesPredictions",
    "apply_overrides",
    "estimate_frame",
    "predict_frame",
    "predictions_relation",
    "with_receivables",
]

#: An engine's prediction less confident than this gives way to the stage estimate (DESIGN 5.3).
LOW_CONFIDENCE = 0.40
#: Edges of the confidence histogram in the assumptions report: everything below
#: ``LOW_CONFIDENCE`` in one bin, then tenths.
CONFIDENCE_BINS = (0.0, LOW_CONFIDENCE, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

#: The columns of ``estimate_frame``: the deal's own, then the prediction's but what the overrides add.
ESTIMATE_COLUMNS = (
    *PASSTHROUGH,
    *(
        name
        for name in PREDICTION_COLUMNS
        if name not in (*PASSTHROUGH, "payment_p10", "payment_p90", "reasoning", "flags")
    ),
)

#: The dates of a prediction.
ALL_DATES = (*ESTIMATE_DATES, "payment_p10", "payment_p90")

_SOURCE_TEXT = {
    q.SOURCE_TABLE: "stage '{stage}' (stage table): invoice in {rule.realistic} days "
    "(range {rule.optimistic}-{rule.conservative})",
    q.SOURCE_UNKNOWN: "stage '{stage}' is not in the stage table: invoice in {rule.realistic} days "
    "(range {rule.optimistic}-{rule.conservative}), confidence {a.unknown_stage_confidence:.2f}",
    q.SOURCE_EXPECTED: "stage '{stage}' is not in the stage table: invoice on the expected close date, "
    "confidence {a.unknown_stage_confidence:.2f}",
    q.SOURCE_INVOICE_DATE: "invoice date from the deal's invoice date (a fact)",
    q.SOURCE_INVOICED: "stage '{stage}' means invoiced: invoice date is the stage change date (a fact)",
    q.SOURCE_RECEIVED: "payment received: reported, not forecast",
    q.SOURCE_CLOSED: "lost or deleted: not forecast",
}


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


# -- the relation path ----------------------------------------------------------------------


def _distinct(
    con: duckdb.DuckDBPyConnection, source: str, params: list, names: list[str]
) -> dict[str, list[str]]:
    """The distinct non-null values of each of ``names`` in ``source``, sorted (a value's
    position is its code), in one pass."""
    picked = ", ".join(f"list(DISTINCT {name}) FILTER (WHERE {name} IS NOT NULL)" for name in names)
    (row,) = con.execute(f"SELECT {picked} FROM ({source})", params).fetchall()
    return {name: sorted(values or []) for name, values in zip(names, row, strict=True)}


@dataclass(frozen=True)
class RulesPredictions:
    """The rules predictions of a SQL source's deals, as a SELECT on the source's connection.

    ``select`` (``relation``: the same as a DuckDB relation) has one row per deal: the
    ``PASSTHROUGH`` columns, ``kind`` and ``method`` as text (``kind_code`` its position in
    ``KINDS``), ``value_base``, ``probability``, ``weighted_value``, the six dates as DATE,
    ``confidence``, ``invoice_is_fact``, ``payment_terms_days``, ``days_in_stage``,
    ``flag_bits``, the reason codes (``invoice_source``, ``stage_code``, ``stuck_level``,
    ``terms_rule``, ``learned_terms``) and ``_row``, the deal's position in the source (the
    rows' own order is not guaranteed). ``to_frame()`` is the frame ``predict_frame`` gives
    for the same deals."""

    select: Select
    assumptions: Assumptions
    #: The distinct stage names (``stage_code`` is a position here) and the learned customers'
    #: terms (``learned_terms`` is a position here): what the reasoning is written from.
    stages: list[str]
    learned_texts: list[str]

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        return self.select.relation()

    def to_frame(self) -> pd.DataFrame:
        """The prediction frame (``fields.PREDICTION_COLUMNS``), rows in the source's order."""
        from core.deals import from_arrow

        table = self.relation.order("_row").to_arrow_table()
        text = from_arrow(table.select(list(PASSTHROUGH)), dict.fromkeys(PASSTHROUGH, "VARCHAR"))
        passthrough = {name: text[name].array for name in PASSTHROUGH}
        columns = _arrow_columns(table.drop_columns(list(PASSTHROUGH)))
        return _frame(
            columns, passthrough, PREDICTION_COLUMNS, self.assumptions, self.stages, self.learned_texts
        )


def predictions_relation(
    con: duckdb.DuckDBPyConnection,
    deals_sql: str,
    params: list | None,
    as_of: dt.date,
    assumptions: Assumptions,
    receivables: Receivables | None = None,
) -> RulesPredictions:
    """Rules predictions of the deals ``deals_sql`` selects on ``con`` (with ``params``), e.g.
    ``SELECT rowid AS _row, * FROM deals WHERE snapshot_id = ?``: it gives the ``RULE_INPUTS``
    and ``_row``, the order ``to_frame`` keeps (a table's ``rowid`` is the order it is read in).

    The distinct values the rules look up are read now (one pass over the source); the
    predictions are a SELECT over it, run when read."""
    sql, stages, learned_texts = _predictions_sql(con, deals_sql, params, as_of, assumptions, receivables)
    return RulesPredictions(Select(con, sql, tuple(params or ())), assumptions, stages, learned_texts)


def _predictions_sql(con, deals_sql: str, params, as_of: dt.date, a: Assumptions, receivables):
    """The SQL of ``predictions_relation``, the distinct stages and the learned customers' terms."""
    distinct = _distinct(con, deals_sql, list(params or []), q.looked_up(a, receivables is not None))
    steps = q.estimate_sql(f"({deals_sql})", a, as_of, distinct)
    learned_texts: list[str] = []
    if receivables is not None:
        learned, linked, learned_texts = q.learned_lookup(receivables, distinct["organization"])
        steps = q.receivables_sql(f"({steps})", learned, linked)
    kinds = ", ".join(literal(kind) for kind in KINDS)
    predictions = q.overrides_sql(f"({steps})", as_of, a)
    sql = f"SELECT *, [{kinds}][kind_code + 1] AS kind, 'rules' AS method FROM ({predictions})"
    return sql, distinct["stage"], learned_texts


def _fetch(
    cur: duckdb.DuckDBPyConnection, source: str, drop: tuple[str, ...] = (), dates: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The columns of ``source`` (a SELECT) but ``drop`` as numpy, rows by ``_row``: the
    ``dates`` as ``datetime64[s]`` with NaT, numbers with NaN where SQL has NULL.

    Run with ``execute``: a relation would plan the query twice, the most of a one-deal call.
    Dates travel as epoch seconds, which numpy reads without converting each value."""
    import numpy as np

    epoch = ", ".join(f"CAST(epoch({name}) AS BIGINT) AS {name}" for name in dates)
    picked = "*" + (f" EXCLUDE ({', '.join(drop)})" if drop else "")
    picked += f" REPLACE ({epoch})" if dates else ""
    out = {}
    for name, values in cur.execute(f"SELECT {picked} FROM ({source}) ORDER BY _row").fetchnumpy().items():
        if name in dates:
            out[name] = np.ma.filled(values.astype("datetime64[s]"), np.datetime64("NaT"))
        else:
            out[name] = np.ma.filled(values, np.nan) if np.ma.isMaskedArray(values) else values
    return out


def _arrow_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """An Arrow table's columns as ``_fetch`` gives them."""
    import pyarrow as pa

    out = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_date(column.type):
            column = column.cast(pa.timestamp("s"))
        values = column.to_numpy()
        out[name] = values if values.flags.writeable else values.copy()  # frames are edited in place
    return out


def _frame(
    table: dict[str, np.ndarray],
    passthrough: dict,
    columns: tuple[str, ...],
    a: Assumptions,
    stages: list[str],
    learned_texts: list[str] = (),
) -> pd.DataFrame:
    """The frame of ``columns`` from ``table`` (the columns of a ``RulesPredictions`` relation,
    or of an estimate, from ``_fetch``) and the ``passthrough`` arrays: kinds, methods and
    texts as Categoricals made per distinct code."""
    import numpy as np
    import pandas as pd

    from core.cashflow.columns import flags_column

    out: dict[str, object] = {**table, **passthrough}
    code = {
        name: table[name]
        for name in ("kind_code", "invoice_source", "stage_code", "stuck_level", "terms_rule")
    }
    out["kind"] = pd.Categorical.from_codes(code["kind_code"].astype(np.int8), categories=list(KINDS))
    out["method"] = pd.Categorical.from_codes(
        np.zeros(len(code["kind_code"]), np.int8), categories=list(METHODS)
    )
    out["invoice_reason"] = _invoice_reasons(
        code["invoice_source"], code["stage_code"], stages, code["stuck_level"], a
    )
    out["terms_reason"] = _terms_reasons(code["terms_rule"], a)
    if "learned_terms" in table:
        out["terms_reason"] = _learned_terms(out["terms_reason"], table["learned_terms"], learned_texts)
    if "reasoning" in columns:
        forecast = code["kind_code"] == 0
        out["reasoning"] = _reasoning(
            out["invoice_reason"], out["terms_reason"], forecast, out["flag_bits"], a
        )
        out["flags"] = flags_column(out["flag_bits"])
    return pd.DataFrame({name: out[name] for name in columns}, copy=False)


# -- reasoning texts, made per distinct code ----------------------------------------------------


def _invoice_reasons(source, stage_codes, stages: list[str], stuck_level, a: Assumptions) -> pd.Categorical:
    """One sentence per row on where the invoice date came from, built per distinct case
    (``stage_codes`` are positions in ``stages``, -1 for no stage)."""
    from core.cashflow.columns import factorize_ints, text_part

    stage_rows = [a.match_stage(stage) for stage in stages]
    n_stage = len(stages) + 1
    n_stuck = len(a.stuck) + 1
    key = (source.astype("int64") * n_stage + (stage_codes + 1)) * n_stuck + (stuck_level + 1)
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


def _terms_reasons(terms_rule: np.ndarray, a: Assumptions) -> pd.Categorical:
    """The payment rule each row's terms came from (``len(payment_rules)``: the default terms)."""
    from core.cashflow.columns import text_part

    texts = [
        f"payment {rule.days} days after invoice ({rule.field} matches '{rule.pattern}')"
        for rule in a.payment_rules
    ]
    texts.append(f"payment {a.default_payment_days} days after invoice (default terms)")
    return text_part(terms_rule, texts)


def _learned_terms(terms: pd.Categorical, learned: np.ndarray, texts: list[str]) -> pd.Categorical:
    """``terms`` with the learned customer's terms where ``learned`` names one (else -1)."""
    import numpy as np
    import pandas as pd

    from core.cashflow.columns import compose_reasoning, text_part

    use = learned >= 0
    if not use.any():
        return terms
    rules_terms = pd.Categorical(terms).copy()
    rules_terms[use] = np.nan
    return compose_reasoning(
        [text_part(learned, texts), rules_terms], np.zeros(len(learned), np.int64), {}, sentence=False
    )


def _reasoning(invoice_reason, terms_reason, forecast: np.ndarray, bits: np.ndarray, a: Assumptions):
    """The reasoning: where the invoice date came from, the payment terms of forecast deals,
    and the sentences of the flags that need explaining."""
    import numpy as np
    import pandas as pd

    from core.cashflow.columns import compose_reasoning

    show_terms = pd.Categorical(terms_reason).copy()
    show_terms[~forecast] = np.nan
    return compose_reasoning([pd.Categorical(invoice_reason), show_terms], bits, flag_texts(a))


# -- the pandas functions the engines call ---------------------------------------------------------


def estimate_frame(deals: pd.DataFrame, as_of: dt.date, assumptions: Assumptions) -> pd.DataFrame:
    """Rules estimates for every deal: invoice dates and band, confidence, value, terms, flags.

    Payment dates, overrides and the final reasoning come from ``apply_overrides``."""
    a = assumptions
    with frames(deals=_deal_table(deals)) as cur:
        distinct = _distinct(cur, "SELECT * FROM deals", [], q.looked_up(a, False))
        estimate = q.estimate_sql("deals", a, as_of, distinct)
        table = _fetch(cur, estimate, PASSTHROUGH, ESTIMATE_DATES)
    return _frame(
        table, {name: deals[name].array for name in PASSTHROUGH}, ESTIMATE_COLUMNS, a, distinct["stage"]
    )


def with_receivables(est: pd.DataFrame, deals: pd.DataFrame, receivables: Receivables | None) -> pd.DataFrame:
    """Deal estimates with learned payment terms and the ``in_receivables`` flag (before the overrides).

    Terms: the organization's median days to pay where the customer is learned. Rows of
    deals whose invoice is in the receivables get ``Flag.IN_RECEIVABLES``."""
    if receivables is None or est.empty:
        return est
    import numpy as np
    import pandas as pd

    from core.cashflow.columns import kind_codes

    parts = pd.DataFrame(
        {
            "deal_id": deals["deal_id"].array,
            "organization": deals["organization"].array,
            "kind_code": kind_codes(est),
            "flag_bits": est["flag_bits"].to_numpy(dtype=np.int64),
            "payment_terms_days": est["payment_terms_days"].to_numpy(dtype=np.int64),
            "_row": np.arange(len(est)),
        },
        copy=False,
    )
    with frames(parts=parts) as cur:
        (organizations,) = _distinct(cur, "SELECT * FROM parts", [], ["organization"]).values()
        learned, linked, texts = q.learned_lookup(receivables, organizations)
        found = q.receivables_sql("parts", learned, linked)
        table = _fetch(cur, found)
    out = est.copy()
    out["terms_reason"] = _learned_terms(pd.Categorical(est["terms_reason"]), table["learned_terms"], texts)
    out["payment_terms_days"] = table["payment_terms_days"]
    out["flag_bits"] = table["flag_bits"]
    return out


def apply_overrides(frame: pd.DataFrame, as_of: dt.date, assumptions: Assumptions) -> pd.DataFrame:
    """Payment dates, the overrides every engine obeys, clamped confidence, reasoning and flags.

    Reads ``predicted_invoice_date`` (and ``predicted_payment_date`` when an engine gave
    one), ``invoice_p10/p90``, ``confidence``, ``invoice_is_fact``, ``payment_terms_days``,
    ``kind``, ``flag_bits``, ``invoice_reason``, ``terms_reason``; returns a new frame.
    """
    import numpy as np
    import pandas as pd

    from core.cashflow.columns import date_array, flags_column, kind_codes

    parts = pd.DataFrame(
        {
            "kind_code": kind_codes(frame),
            "flag_bits": frame["flag_bits"].to_numpy(dtype=np.int64),
            "invoice_is_fact": frame["invoice_is_fact"].to_numpy(dtype=bool),
            "payment_terms_days": frame["payment_terms_days"].to_numpy(dtype=np.int64),
            **{name: date_array(frame[name]) for name in ESTIMATE_DATES},
            "confidence": frame["confidence"].to_numpy(dtype=np.float64, na_value=np.nan),
            "_row": np.arange(len(frame)),
        },
        copy=False,
    )
    with frames(parts=parts) as cur:
        out = _fetch(cur, q.overrides_sql("parts", as_of, assumptions), dates=ALL_DATES)
    bits = out["flag_bits"]
    forecast = parts["kind_code"].to_numpy() == 0
    out["reasoning"] = _reasoning(frame["invoice_reason"], frame["terms_reason"], forecast, bits, assumptions)
    out["flags"] = flags_column(bits)
    # A new frame of the prediction columns, the unchanged ones shared with ``frame``.
    return pd.DataFrame(
        {name: out[name] if name in out else frame[name] for name in PREDICTION_COLUMNS},
        index=frame.index,
        copy=False,
    )


def predict_frame(
    deals: pd.DataFrame, as_of: dt.date, assumptions: Assumptions, receivables: Receivables | None = None
) -> pd.DataFrame:
    """Rules predictions for a canonical deals frame: one row per deal, in input order.

    With ``receivables``, deals are paid like their customer's learned behaviour and a deal
    whose invoice is already open is flagged (``with_receivables``). The relation of
    ``predictions_relation``, over the frame."""
    with frames(deals=_deal_table(deals)) as cur:
        sql, stages, texts = _predictions_sql(cur, "SELECT * FROM deals", [], as_of, assumptions, receivables)
        table = _fetch(cur, sql, PASSTHROUGH, ALL_DATES)
    passthrough = {name: deals[name].array for name in PASSTHROUGH}
    return _frame(table, passthrough, PREDICTION_COLUMNS, assumptions, stages, texts)


def _deal_table(deals: pd.DataFrame) -> pa.Table:
    """The ``RULE_INPUTS`` of a deals frame and ``_row``, its positions, as Arrow (no copy of
    text; NaN and NaT become nulls), which DuckDB plans a scan of faster than a pandas frame."""
    import numpy as np
    import pyarrow as pa

    columns = {name: pa.Array.from_pandas(deals[name]) for name in RULE_INPUTS}
    return pa.table({**columns, "_row": np.arange(len(deals))})
