"""What the aggregation reads of the deals, grouped by what its options test (DESIGN 5.4, 9).

An aggregation's options (horizon, minimum confidence, granularity, pipeline, owner) only
test a few things of a deal: where it stands before any option (its *fate*: received, not
forecast, in the receivables, no usable value, or forecast), its confidence, its four dates
and its pipeline and owner. Deals alike in all of these land alike under any options, so
the aggregation first groups the deals by them, with their count and exact sums (a few
thousand groups for a million deals: dates are days, confidences few), and applies the
options to the groups.

``inputs_sql`` is that grouping. The aggregation of a DuckDB relation (the command line)
runs it inside its one statement; a prediction frame's run keeps it as a table
(``AggregationInputs``), made once, so that each slider move of the dashboard groups those
few thousand rows instead of scanning a million and converting their columns again. Each
row of the frame keeps the number of its group, so the deals an aggregation includes are
found without reading the frame again.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.cashflow import sql
from core.cashflow.checks import failed_checks
from core.cashflow.fields import VALUE_FLAGS, Flag

if TYPE_CHECKING:  # only a frame's inputs need them (a relation's aggregation runs without)
    import numpy as np
    import pandas as pd

#: What the aggregation reads of a prediction (and ``pipeline`` and ``owner`` to filter by them).
PREDICTION_COLUMNS = ("kind", "flag_bits", "weighted_value", "value_base", "confidence",
                      "predicted_invoice_date", "predicted_payment_date", "payment_p10", "payment_p90")
SCOPE_COLUMNS = ("pipeline", "owner")
#: Money and confidence are summed as decimals: exact, so the same predictions give the same cents
#: whatever order DuckDB adds them in (its threads do not keep one), and a sum that lands on half
#: a cent always rounds the same way. Sums of sums are the same sums.
EXACT = "DECIMAL(38, 10)"
#: The position of a frame's row, which ``AggregationInputs`` adds to the frame it reads.
POSITION = "frame_position"

_DAYS = {"predicted_invoice_date": "invoice_day", "predicted_payment_date": "payment_day",
         "payment_p10": "p10_day", "payment_p90": "p90_day"}


def days(*columns: str) -> str:
    """SQL: date columns as DATE, named ``invoice_day`` and so on (a frame holds timestamps at midnight)."""
    return ", ".join(f"CAST({column} AS DATE) AS {_DAYS[column]}" for column in columns)


def inputs_sql(scope: Sequence[str] = (), failed: str = "0", positions: bool = False) -> str:
    """SQL: the deals of ``prediction_rows`` grouped by their ``fate``, ``rolled`` (overdue, rolled
    to as-of), ``confidence``, the four dates (``invoice_day``, ``payment_day``, ``p10_day``,
    ``p90_day``), the ``scope`` columns (``pipeline``, ``owner``) and ``failed`` (the bits of the
    checks they fail, ``checks.failed_checks``), with ``deals`` (how many), ``weighted``,
    ``unweighted`` (valued deals only) and ``confidence_sum``; with ``positions``, the deals'
    ``POSITION`` values as the list ``positions``.

    ``fate``: ``received``, ``not_forecast``, NULL for another kind, then for forecast deals
    ``in_receivables``, ``invalid_value`` (unknown currency, no or negative value) or ``forecast``."""
    kept = "".join(f", {column}" for column in scope)
    listed, position = (f", list({POSITION}) AS positions", f", {POSITION}") if positions else ("", "")
    return f"""
        SELECT CASE
                WHEN kind = 'received' THEN 'received'
                WHEN kind = 'not_forecast' THEN 'not_forecast'
                WHEN kind IS DISTINCT FROM 'forecast' THEN NULL
                WHEN flag_bits & {int(Flag.IN_RECEIVABLES)} <> 0 THEN 'in_receivables'
                WHEN flag_bits & {int(VALUE_FLAGS)} <> 0 THEN 'invalid_value'
                ELSE 'forecast'
            END AS fate,
            flag_bits & {int(Flag.OVERDUE_ROLLED)} <> 0 AS rolled,
            confidence, invoice_day, payment_day, p10_day, p90_day{kept}, {failed} AS failed,
            count(*) AS deals, sum(weighted_value::{EXACT}) AS weighted,
            sum(value_base::{EXACT}) FILTER (flag_bits & {int(VALUE_FLAGS)} = 0) AS unweighted,
            sum(confidence::{EXACT}) AS confidence_sum{listed}
        FROM (
            SELECT kind, flag_bits, weighted_value, value_base, confidence,
                {days(*PREDICTION_COLUMNS[-4:])}{kept}{position}
            FROM prediction_rows
        )
        GROUP BY ALL"""


_numbers = itertools.count()


def _drop(table: str) -> None:
    with sql.frames() as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")


class AggregationInputs:
    """A prediction frame's ``inputs_sql``, kept as a table of the process's private DuckDB
    database (``sql.frames``) for as long as this object lives, each group numbered
    (``group_number``, and ``groups`` per row of the frame): made once per run, then read by
    every aggregation of it (``aggregate.aggregate``), from any thread.

    ``checks`` (``checks.warning_conditions``) are the checks counted in ``failed``; the table
    keeps ``pipeline`` and ``owner`` (those of them the frame has), whatever a filter asks."""

    def __init__(self, frame: pd.DataFrame, checks: dict[str, str] | None = None) -> None:
        import numpy as np

        self.checks = dict(checks or {})
        self.scope = tuple(column for column in SCOPE_COLUMNS if column in frame.columns)
        self.table = f"aggregation_inputs_{next(_numbers)}"
        rows = frame.loc[:, [*PREDICTION_COLUMNS, *self.scope]].assign(**{POSITION: np.arange(len(frame))})
        grouped = inputs_sql(self.scope, failed_checks(self.checks), positions=True)
        with sql.frames(prediction_rows=rows) as con:
            con.execute(f"CREATE TABLE {self.table} AS SELECT row_number() OVER () - 1 AS group_number, * "
                        f"FROM ({grouped})")
            finalizer = weakref.finalize(self, _drop, self.table)
            finalizer.atexit = False  # the private database goes with the process
            found = con.execute(f"SELECT group_number, unnest(positions) AS row FROM {self.table}")
            found = found.fetchnumpy()
            con.execute(f"ALTER TABLE {self.table} DROP COLUMN positions")
        #: Per row of the frame, the number of its group.
        self.groups = np.zeros(len(frame), dtype=np.int32)
        self.groups[found["row"]] = found["group_number"]
        self.group_count = int(found["group_number"].max()) + 1 if len(frame) else 0

    def rows(self, query: str) -> list[tuple]:
        """The rows of ``query``, which reads the table (``self.table``)."""
        with sql.frames() as con:
            return con.execute(query).fetchall()

    def rows_of(self, query: str) -> np.ndarray:
        """A mask over the frame's rows: those of the groups ``query`` selects (its one column,
        ``group_number``, read from the table)."""
        import numpy as np

        with sql.frames() as con:
            found = con.execute(query).fetchnumpy()["group_number"]
        chosen = np.zeros(self.group_count, dtype=bool)
        chosen[found] = True
        return chosen[self.groups]
