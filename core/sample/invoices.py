"""Deterministic invoice histories whose customers pay in known ways, and their CSV export.

    history = generate_invoices(invoices=600, seed=7)
    write_invoice_csv(history, "data/receivables/invoices_2026-10-26.csv")

Each customer (``CUSTOMERS``) has payment terms, a true median of days late against the
due date (negative: early), a spread, a share of disputed invoices and the days a dispute
adds. Days late are the median plus a rounded normal draw, so the true P10/P90 of days late
are ``median -/+ 1.2816 * spread`` (``CustomerProfile.p10_days_late``); a model learning
from the history should recover them. Several names are the sample deals' organizations
written with a legal suffix ("SABIC Ltd" for the deals' "SABIC"), so matching is exercised.

``InvoiceHistory.truth`` holds every invoice with its true paid date (also those paid after
``as_of``); ``exported`` is what an accounts-receivable export on ``as_of`` shows: invoices
issued by then, paid dates only up to then. The export is the ``invoice_list`` preset's
header set with US dates (M/D/YYYY), amounts with thousands separators, and a few rows that
must be handled: a credit note, a duplicated invoice number (the later row wins), and one
row whose invoice date reads ``TBD`` (rejected). The same arguments give identical bytes.

In the CLI: ``python -m core receivables sample OUT.csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.receivables.invoices import conform_invoices
from core.sample.catalog import SAMPLE_RATES

#: Normal quantile of P90 (and, negated, P10).
Z90 = 1.2816
EXPORT_HEADERS = (
    "Invoice Number",
    "Customer",
    "Invoice Date",
    "Due Date",
    "Amount",
    "Currency",
    "Paid Date",
    "Disputed",
    "Deal ID",
    "Reference",
)


@dataclass(frozen=True)
class CustomerProfile:
    """How one customer is invoiced and pays."""

    name: str
    terms_days: int
    median_days_late: int
    spread_days: float
    dispute_share: float
    dispute_extra_days: int
    currency: str
    weight: float

    @property
    def p10_days_late(self) -> float:
        return self.median_days_late - Z90 * self.spread_days

    @property
    def p90_days_late(self) -> float:
        return self.median_days_late + Z90 * self.spread_days


CUSTOMERS: tuple[CustomerProfile, ...] = (
    CustomerProfile("Saudi Aramco Co.", 30, -22, 2.0, 0.02, 10, "SAR", 14.0),
    CustomerProfile("SABIC Ltd", 45, 12, 4.0, 0.05, 21, "SAR", 8.0),
    CustomerProfile("Ma'aden Co.", 30, 25, 6.0, 0.10, 20, "SAR", 6.0),
    CustomerProfile("Saudi Electricity Co.", 60, 5, 3.0, 0.05, 14, "SAR", 7.0),
    CustomerProfile("STC", 30, 0, 2.0, 0.02, 10, "SAR", 6.0),
    CustomerProfile("Honeywell Inc.", 30, -5, 2.0, 0.03, 12, "USD", 5.0),
    CustomerProfile("Halliburton LLC", 45, 40, 8.0, 0.15, 25, "USD", 4.0),
    CustomerProfile("Schneider Electric GmbH", 30, 10, 3.0, 0.05, 15, "EUR", 3.0),
    CustomerProfile("Nesma & Partners", 60, 15, 5.0, 0.10, 18, "SAR", 5.0),
    CustomerProfile("Al Rajhi Construction", 30, 8, 4.0, 0.05, 14, "SAR", 4.0),
    CustomerProfile("Gulf Catering Est.", 30, 3, 2.0, 0.0, 0, "SAR", 0.4),
)

AS_OF = dt.date(2026, 10, 26)
HISTORY_DAYS = 360


@dataclass(frozen=True)
class InvoiceHistory:
    """Generated invoices: ``truth`` (true paid dates) and ``exported`` (what the export says)."""

    as_of: dt.date
    customers: tuple[CustomerProfile, ...]
    truth: pd.DataFrame
    exported: pd.DataFrame

    def profile(self, name: str) -> CustomerProfile:
        return next(c for c in self.customers if c.name == name)


def generate_invoices(
    *,
    invoices: int = 600,
    seed: int = 7,
    as_of: dt.date = AS_OF,
    history_days: int = HISTORY_DAYS,
    customers: tuple[CustomerProfile, ...] = CUSTOMERS,
) -> InvoiceHistory:
    """``invoices`` invoices issued over ``history_days`` up to ``as_of``, paid as each customer does."""
    rng = np.random.default_rng([seed, 1])
    n = invoices
    weights = np.array([c.weight for c in customers])
    who = rng.choice(len(customers), size=n, p=weights / weights.sum())
    start = np.datetime64(as_of, "D") - np.timedelta64(history_days, "D")
    issued = start + np.sort(rng.integers(0, history_days + 1, n)).astype("timedelta64[D]")
    terms = np.array([c.terms_days for c in customers])[who]
    due = issued + terms.astype("timedelta64[D]")
    disputed = rng.random(n) < np.array([c.dispute_share for c in customers])[who]
    late = np.array([c.median_days_late for c in customers])[who] + np.round(
        rng.standard_normal(n) * np.array([c.spread_days for c in customers])[who]
    ).astype(np.int64)
    late = late + np.where(disputed, np.array([c.dispute_extra_days for c in customers])[who], 0)
    paid = np.maximum(due + late.astype("timedelta64[D]"), issued)
    currency = np.array([c.currency for c in customers])[who]
    amount_base = np.round(rng.lognormal(10.6, 0.8, n), -2)
    rate = np.array([SAMPLE_RATES[c] for c in currency])
    amount = np.round(amount_base / rate, 2)
    truth = conform_invoices(
        pd.DataFrame(
            {
                "invoice_id": [f"INV-{i:06d}" for i in range(1, n + 1)],
                "customer": np.array([c.name for c in customers])[who],
                "invoice_date": issued,
                "due_date": due,
                "amount": amount,
                "currency": currency,
                "amount_base": np.round(amount * rate, 2),
                "paid_date": paid,
                "disputed": disputed,
            }
        )
    )
    today = np.datetime64(as_of, "D")
    exported = truth.copy()
    exported.loc[exported["paid_date"].to_numpy(dtype="datetime64[D]") > today, "paid_date"] = pd.NaT
    return InvoiceHistory(as_of=as_of, customers=customers, truth=truth, exported=exported)


def _us_date(value: object) -> str:
    return "" if pd.isna(value) else f"{value.month}/{value.day}/{value.year}"


def invoice_csv(history: InvoiceHistory) -> bytes:
    """The export as CSV bytes (UTF-8, CRLF line ends as spreadsheet tools write them)."""
    frame = history.exported
    rows = [
        [
            invoice_id,
            customer,
            _us_date(issued),
            _us_date(due),
            f"{amount:,.2f}",
            currency,
            _us_date(paid),
            "Yes" if disputed else "",
            "",
            f"PO {4500000 + position}",
        ]
        for position, (invoice_id, customer, issued, due, amount, currency, paid, disputed) in enumerate(
            frame[
                [
                    "invoice_id",
                    "customer",
                    "invoice_date",
                    "due_date",
                    "amount",
                    "currency",
                    "paid_date",
                    "disputed",
                ]
            ].itertuples(index=False)
        )
    ]
    # Rows an export really carries: a credit note, a number issued twice, an unreadable date.
    last = rows[-1]
    rows.append(["CN-000001", last[1], last[2], last[2], "-1,250.00", last[5], "", "", "", "credit note"])
    rows.insert(len(rows) // 2, [*rows[len(rows) // 2][:4], "1.00", *rows[len(rows) // 2][5:]])
    rows.append(["INV-999999", rows[0][1], "TBD", "", "500.00", "SAR", "", "", "", "draft"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def write_invoice_csv(history: InvoiceHistory, path: str | Path) -> Path:
    """Write ``invoice_csv(history)`` to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(invoice_csv(history))
    return path
