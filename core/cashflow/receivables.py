"""Receivables in the forecast: open invoices as cash-in items, deals paid the way their customer pays.

A forecast as of day D may use one invoices snapshot (``resolve_receivables``: ``latest``
is the newest one as of D or earlier; one dated after D would be look-ahead and is refused):

- every invoice open at D (issued by D, not paid by D) becomes a cash-in item with method
  ``receivable``: its payment date is its due date plus the customer's median days late
  (all customers' when the customer has too little history, ``source`` says which), plus
  the dispute effect when disputed, with a P10..P90 band from the same figures. A payment
  date already past is rolled to D and flagged, as DESIGN 5.1 does for deals. Credit
  notes are kept as negative cash;
- deals take their payment terms from their organization's learned days to pay where the
  customer is learned (``with_receivables``, run by the engines before the overrides), so
  invoices are the one source of payment behaviour; else the terms rules;
- a deal whose invoice is in the snapshot (an invoice's ``deal_id``) is flagged
  ``in_receivables``: its cash is counted once, as the receivable.

This module picks the snapshot and says what was used; it loads no frame library until a
snapshot is used, so a forecast without invoices stays light. The numbers (payment dates,
learned terms) are in ``core.cashflow.receivable_cash``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InputError
from core.formatting import money_full
from core.receivables import KIND
from core.store import Snapshot, Store

if TYPE_CHECKING:  # the invoice frames load only when a forecast uses an invoices snapshot
    import numpy as np
    import pandas as pd

    from core.cashflow.behaviour import BehaviourModel


class ReceivableFlag(enum.IntFlag):
    """Why a receivable is special; the lower-case names are what users see."""

    OVERDUE_ROLLED = enum.auto()
    DISPUTED = enum.auto()
    CREDIT_NOTE = enum.auto()
    NO_DUE_DATE = enum.auto()
    UNKNOWN_CURRENCY = enum.auto()
    PAID_AFTER_AS_OF = enum.auto()


@dataclass(frozen=True)
class Receivables:
    """One invoices snapshot as a forecast as of ``as_of`` sees it."""

    snapshot: Snapshot
    as_of: dt.date
    invoices: pd.DataFrame
    behaviour: BehaviourModel

    @property
    def linked_deal_ids(self) -> np.ndarray:
        """Deal ids of invoices issued by the as-of date (their cash is in the receivables)."""
        import numpy as np

        issued = self.invoices["invoice_date"].to_numpy(dtype="datetime64[D]") <= np.datetime64(
            self.as_of, "D"
        )
        ids = self.invoices["deal_id"][issued].dropna().astype(str).str.strip()
        return ids[ids != ""].unique()


def receivables_snapshot(store: Store, ref: int | str | None, as_of: dt.date) -> Snapshot | None:
    """The invoices snapshot a forecast as of ``as_of`` uses (None: none asked for, or none yet).

    ``latest`` is the newest invoices snapshot dated ``as_of`` or earlier; an explicit id dated
    later is refused (InputError), since its payments were not known on ``as_of``."""
    if ref is None or (isinstance(ref, str) and ref.strip().lower() == "none"):
        return None
    if isinstance(ref, str) and ref.strip().lower() == "latest":
        known = [s for s in store.list_snapshots(kind=KIND) if s.as_of <= as_of]
        return known[-1] if known else None
    snapshot = store.resolve_snapshot(ref, kind=KIND)
    if snapshot.as_of > as_of:
        raise InputError(
            f"Receivables snapshot {snapshot.id} is as of {snapshot.as_of}, after the forecast's as-of "
            f"date {as_of}: its payments were not known then. Pick one as of {as_of} or earlier."
        )
    return snapshot


def resolve_receivables(
    store: Store,
    ref: int | str | None,
    as_of: dt.date,
    *,
    default_terms: int,
    min_samples: int,
) -> Receivables | None:
    """The receivables a forecast as of ``as_of`` uses (None: none asked for, or none yet):
    the invoices of ``receivables_snapshot``, and the payment behaviour learned from them."""
    snapshot = receivables_snapshot(store, ref, as_of)
    if snapshot is None:
        return None
    from core.cashflow.behaviour import learn_behaviour
    from core.receivables.invoices import load_invoices

    invoices = load_invoices(store, snapshot.id)
    behaviour = learn_behaviour(invoices, as_of, min_samples=min_samples, default_terms=default_terms)
    return Receivables(snapshot=snapshot, as_of=as_of, invoices=invoices, behaviour=behaviour)


def receivables_json(run, agg) -> dict[str, object]:
    """The ``receivables`` part of ``forecast --json``: snapshot, reconciliation and items."""
    return {
        "snapshot_id": run.receivables_snapshot_id,
        "summary": agg.receivables,
        "invoices": [] if run.receivables is None else _records(run.receivables),
    }


def receivables_line(run, agg) -> str:
    """One sentence on the receivables a forecast used (or that it used none)."""
    if run.receivables is None:
        return "Receivables: none used (load an invoice list with: python -m core receivables ingest FILE)."
    summary = agg.receivables
    value = {name: money_full(amount["value"]) for name, amount in summary.items()}
    return (
        f"Receivables: snapshot {run.receivables_snapshot_id}, {summary['open']['count']} open invoice(s) "
        f"worth {value['open']}; {value['in_periods']} in the periods, "
        f"{value['beyond_horizon']} beyond the horizon, "
        f"{value['filtered_out']} filtered out, {value['invalid_value']} "
        f"without a rate; {summary['overdue_rolled_in']['count']} overdue rolled to the as-of date."
    )


def _records(receivables: pd.DataFrame) -> list[dict]:
    from core.cashflow.receivable_cash import receivable_records

    return receivable_records(receivables)
