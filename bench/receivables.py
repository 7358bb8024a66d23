"""Benchmark: learn payment behaviour and forecast receivables, against a bare DuckDB median query.

    .venv/bin/python bench/receivables.py [--sizes 100000 1000000] [--customers 5000] [--repeat 3]

For each size, a generated invoice history (core.sample.invoices, seeded; ``--customers``
customers with their own terms and lateness) is learned as of its last day (per-customer
median/P10/P90 of days to pay and late, share late, dispute effect, organization matching)
and every open invoice is forecast (payment date, band, confidence, reasoning). Beside it,
in the same run, a bare DuckDB query computes each customer's median days to pay over the
same frame. The bare query is one of the ~15 aggregates the model computes, so the ratio
says what the rest (quantiles, disputes, name matching, per-invoice dates, flags and
reasoning) costs; goal: within 10x at 1M invoices. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cashflow import SEED_PROFILE
from core.cashflow.behaviour import learn_behaviour
from core.cashflow.receivable_cash import predict_receivables
from core.cashflow.receivables import Receivables
from core.sample.invoices import CustomerProfile, generate_invoices
from core.store import Snapshot


def customers(n: int) -> tuple[CustomerProfile, ...]:
    """``n`` customers with varied terms, lateness and dispute habits (deterministic)."""
    return tuple(
        CustomerProfile(
            name=f"Customer {k:05d} {('Ltd', 'LLC', 'Co.', 'GmbH', '')[k % 5]}".strip(),
            terms_days=(30, 45, 60)[k % 3],
            median_days_late=(k * 7) % 41 - 10,
            spread_days=1.0 + (k % 6),
            dispute_share=0.02 * (k % 4),
            dispute_extra_days=10 + k % 15,
            currency="SAR",
            weight=1.0 + (k % 10),
        )
        for k in range(n)
    )


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(size: int, profiles: tuple[CustomerProfile, ...], repeat: int) -> tuple[int, float, float]:
    """(open invoices, best learn+forecast seconds, best bare-query seconds) for ``size`` invoices."""
    history = generate_invoices(invoices=size, seed=7, customers=profiles)
    frame, as_of = history.exported, history.as_of
    snapshot = Snapshot(
        id=0,
        kind="invoices",
        as_of=as_of,
        source="bench",
        file_name="bench.csv",
        sha256="",
        rows_read=size,
        rows_loaded=size,
        rows_rejected=0,
    )
    result: dict = {}

    def ours() -> None:
        model = learn_behaviour(frame, as_of)
        receivables = Receivables(snapshot=snapshot, as_of=as_of, invoices=frame, behaviour=model)
        result["items"] = predict_receivables(receivables, SEED_PROFILE)

    with duckdb.connect() as con:
        con.register("invoices", frame)

        def bare() -> None:
            con.execute(
                "SELECT customer, median(date_diff('day', invoice_date, paid_date)) FROM invoices "
                "WHERE paid_date <= ? GROUP BY customer",
                [as_of],
            ).fetchall()

        ours_s, bare_s = best(repeat, ours), best(repeat, bare)
    return len(result["items"]), ours_s, bare_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    profiles = customers(args.customers)
    print(f"{'invoices':>10} {'open':>8} {'learn+forecast s':>17} {'bare DuckDB s':>14} {'ratio':>6}")
    for size in args.sizes:
        open_count, ours_s, bare_s = measure(size, profiles, args.repeat)
        print(f"{size:>10,} {open_count:>8,} {ours_s:>17.3f} {bare_s:>14.3f} {ours_s / bare_s:>6.1f}")


if __name__ == "__main__":
    main()
