"""What the stored snapshots say happened to each deal, read columnar up to an as-of date.

Every reader takes a cut-off: only snapshots with as-of on or before it are read, and any
date after it in them is treated as unknown (a forecast never looks past its own as-of, and
a backtest replays the past). DuckDB does the grouping; the result comes back through Arrow
as day numbers (days since 1970-01-01, NaN when unknown), stage codes and small lists of
distinct names, never one Python object per row.

- ``deal_facts``: one row per deal seen by the cut-off: created day, first and last day
  seen, the day of its *invoice event* (invoice date, else the day it entered an invoiced
  stage, else its won date), its payment event (payment date, else entry into a paid stage)
  and its lost day. A single export already holds this history: closed deals with created
  and won or lost dates, open deals with their age.
- ``stage_spells``: one row per (deal, open stage, stage entry) seen in some snapshot, with
  the first day it was seen there. Several snapshots (or a last-stage-change column) show
  how long deals stay in a stage and what became of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.cashflow.assumptions import Assumptions
from core.deals import normalise_stage
from core.store import Store

_EPOCH = dt.date(1970, 1, 1)

_ROWS = """
rows AS (
    SELECT d.deal_id, d.stage, lower(trim(d.status)) AS status, d.organization, d.value_base, d.probability,
           d.created_at - DATE '1970-01-01' AS created,
           s.as_of - DATE '1970-01-01' AS seen,
           d.stage_changed_at - DATE '1970-01-01' AS changed,
           coalesce(d.won_at, d.closed_at) - DATE '1970-01-01' AS won,
           coalesce(d.lost_at, d.closed_at, s.as_of) - DATE '1970-01-01' AS lost,
           d.invoice_date - DATE '1970-01-01' AS invoiced,
           d.payment_date - DATE '1970-01-01' AS paid,
           list_contains($invoiced::VARCHAR[], d.stage) AS invoiced_stage,
           list_contains($paid::VARCHAR[], d.stage) AS paid_stage
    FROM deals d JOIN snapshots s ON s.id = d.snapshot_id
    WHERE s.kind = 'deals' AND s.as_of <= $cutoff
)"""

_OUTCOMES = f"""
WITH {_ROWS},
facts AS (
    SELECT deal_id,
           arg_max(created, seen) AS created,
           min(seen) AS first_seen,
           max(seen) AS last_seen,
           coalesce(min(invoiced), min(CASE WHEN invoiced_stage THEN changed END),
                    min(CASE WHEN status = 'won' THEN won END)) AS event,
           coalesce(min(paid), min(CASE WHEN paid_stage THEN changed END)) AS payment,
           min(CASE WHEN status = 'lost' THEN lost END) AS lost,
           arg_max(organization, seen) AS organization,
           arg_max(value_base, seen) AS value,
           arg_max(stage, seen) FILTER (NOT invoiced_stage AND NOT paid_stage) AS stage,
           arg_max(coalesce(changed, created), seen) FILTER (NOT invoiced_stage AND NOT paid_stage)
               AS stage_entry,
           arg_min(probability, seen) FILTER (coalesce(status, 'open') = 'open' AND probability IS NOT NULL)
               AS crm_probability,
           min(seen) FILTER (coalesce(status, 'open') = 'open' AND probability IS NOT NULL) AS crm_seen
    FROM rows GROUP BY deal_id
),
outcomes AS (
    SELECT deal_id, created, first_seen, last_seen, organization, value, crm_probability, crm_seen, stage,
           CASE WHEN stage_entry <= $day THEN stage_entry END AS stage_entry,
           CASE WHEN event <= $day THEN event END AS invoice_event,
           CASE WHEN payment <= $day THEN payment END AS payment_event,
           CASE WHEN lost <= $day AND (event IS NULL OR event > $day) THEN lost END AS lost
    FROM facts
)"""

_FACTS = _OUTCOMES + "\nSELECT * FROM outcomes"

_SPELLS = (
    _OUTCOMES
    + """,
spells AS (
    SELECT deal_id, stage, coalesce(changed, created) AS entry, min(seen) AS first_seen
    FROM rows
    WHERE coalesce(status, 'open') = 'open' AND NOT invoiced_stage AND NOT paid_stage
          AND stage IS NOT NULL AND coalesce(changed, created) IS NOT NULL
    GROUP BY deal_id, stage, coalesce(changed, created)
)
SELECT s.stage, s.entry, s.first_seen, o.invoice_event, o.lost
FROM spells s JOIN outcomes o USING (deal_id)
"""
)


def day_number(day: dt.date) -> float:
    """Days since 1970-01-01, the unit of every day column here."""
    return float((day - _EPOCH).days)


def days_to_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers (NaN: unknown) as ``datetime64[D]`` (NaT)."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
    known = ~np.isnan(days)
    out[known] = np.datetime64(_EPOCH, "D") + days[known].astype(np.int64).astype("timedelta64[D]")
    return out


@dataclass(frozen=True)
class StageFlags:
    """The raw stage names seen by the cut-off that mean invoiced or paid, and each name's key."""

    invoiced: list[str]
    paid: list[str]
    keys: dict[str, str]


def stage_flags(store: Store, cutoff: dt.date, assumptions: Assumptions) -> StageFlags:
    """Match every distinct stage name once against the assumptions' stage table."""
    names = (
        read_arrow(
            store,
            "SELECT DISTINCT d.stage FROM deals d JOIN snapshots s ON s.id = d.snapshot_id "
            "WHERE s.kind = 'deals' AND s.as_of <= $cutoff AND d.stage IS NOT NULL",
            {"cutoff": cutoff},
        )
        .column(0)
        .to_pylist()
    )
    keys = {}
    for name in names:
        row = assumptions.match_stage(name)
        keys[name] = assumptions.stages[row].name if row is not None else normalise_stage(name)
    return StageFlags(
        invoiced=[n for n in names if assumptions.is_invoiced_stage(n)],
        paid=[n for n in names if assumptions.is_paid_stage(n)],
        keys=keys,
    )


def read_arrow(store: Store, sql: str, params: dict[str, object]) -> pa.Table:
    """A query's rows as an Arrow table, on a cursor of its own (this thread's cursor may hold
    an unfinished result, which DuckDB does not let another query interrupt)."""
    with store.cursor().cursor() as cursor:
        return cursor.sql(sql, params=params).to_arrow_table()


def _query(store: Store, sql: str, cutoff: dt.date, flags: StageFlags) -> pa.Table:
    params = {"cutoff": cutoff, "day": day_number(cutoff), "invoiced": flags.invoiced, "paid": flags.paid}
    return read_arrow(store, sql, {name: value for name, value in params.items() if f"${name}" in sql})


def _days(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.float64)


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    encoded = pc.dictionary_encode(column).combine_chunks()
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    return pd.Categorical.from_codes(codes, categories=pd.Index(encoded.dictionary.to_pylist()).unique())


def deal_facts(
    store: Store,
    cutoff: dt.date,
    assumptions: Assumptions,
    *,
    flags: StageFlags | None = None,
    with_ids: bool = False,
) -> pd.DataFrame:
    """One row per deal seen by ``cutoff``: day numbers of created, first_seen, last_seen,
    invoice_event, payment_event, lost (only when no invoice event came by the cut-off), the
    latest value in the base currency (``value``), the last stage short of invoiced or paid
    the deal was seen in (``stage``, its key, as in ``stage_spells``) and the day it entered
    it (``stage_entry``: its last stage change, else its created day), the deal's own (CRM)
    probability on the first day it was seen open with one (``crm_probability``, ``crm_seen``), and the
    ``organization`` as a categorical; ``with_ids`` adds ``deal_id`` (a categorical of every
    deal's id, which costs a Python string per deal)."""
    flags = flags or stage_flags(store, cutoff, assumptions)
    table = _query(store, _FACTS, cutoff, flags)
    frame = pd.DataFrame(
        {
            name: _days(table, name)
            for name in (
                "created",
                "first_seen",
                "last_seen",
                "invoice_event",
                "payment_event",
                "lost",
                "value",
                "crm_probability",
                "crm_seen",
                "stage_entry",
            )
        }
    )
    if with_ids:
        frame.insert(0, "deal_id", _categorical(table.column("deal_id")))
    frame["organization"] = _categorical(table.column("organization"))
    frame["stage"] = _stage_keys(table.column("stage"), flags)
    return frame


def _stage_keys(column: pa.ChunkedArray, flags: StageFlags) -> pd.Categorical:
    """Raw stage names as a categorical of their keys (the stage-table name, else the normalised name)."""
    raw = _categorical(column)
    keys, codes = np.unique([flags.keys[name] for name in raw.categories] or [""], return_inverse=True)
    codes = np.where(raw.codes >= 0, np.asarray(codes)[raw.codes], -1)
    return pd.Categorical.from_codes(codes, categories=keys)


def stage_spells(
    store: Store, cutoff: dt.date, assumptions: Assumptions, *, flags: StageFlags | None = None
) -> pd.DataFrame:
    """One row per (deal, open stage, entry day) seen by ``cutoff``: ``stage`` (the
    stage-table name, else the normalised name) as a categorical; ``entry``, ``first_seen``
    and the deal's ``invoice_event`` and ``lost`` as day numbers."""
    flags = flags or stage_flags(store, cutoff, assumptions)
    table = _query(store, _SPELLS, cutoff, flags)
    stage = _stage_keys(table.column("stage"), flags)
    frame = pd.DataFrame(
        {name: _days(table, name) for name in ("entry", "first_seen", "invoice_event", "lost")}
    )
    frame.insert(0, "stage", stage)
    return frame
