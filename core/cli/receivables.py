"""``python -m core receivables``: invoice lists in, customers' payment behaviour and its backtest out."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from core.cashflow.assumptions import load_assumptions
from core.cashflow.behaviour import MIN_CUSTOMER_SAMPLES, learn_behaviour
from core.cashflow.payment_backtest import backtest_payments
from core.cli._shared import after_action, open_store, print_json
from core.cli.ingest import add_upload_arguments, iso_date, print_upload, upload_options
from core.errors import InputError
from core.receivables import (
    INVOICE_PRESET_NAMES,
    KIND,
    MAPPABLE_INVOICE_COLUMNS,
    ingest_invoice_file,
    load_invoices,
    open_at,
)
from core.sample.invoices import generate_invoices, write_invoice_csv
from core.store import Store

DESCRIPTION = """\
Accounts-receivable invoice lists: load them as snapshots, see how each customer pays, and
check that against what happened. `forecast` adds the open invoices of the latest invoice
snapshot to the cash forecast (`--receivables`).

examples:
  python -m core receivables ingest ar/invoices.csv
  python -m core receivables list
  python -m core receivables behaviour --customer "Saudi Aramco" --json
  python -m core receivables backtest --as-of 2026-06-30
"""

INGEST_DESCRIPTION = f"""\
Load an invoice list (CSV or XLSX) as one dated snapshot of kind invoices. Rows that cannot be
read are rejected with row, column, value and reason; the rest loads; the same file twice is
reported as already loaded.

The invoice_list preset reads these headers (the last four optional):
  Invoice Number, Customer, Invoice Date, Due Date, Amount, Currency, Paid Date, Disputed, Deal ID
Any other header set: --source generic with --map for the columns it does not guess.

examples:
  python -m core receivables ingest ar/invoices.csv --json
  python -m core receivables ingest ledger.xlsx --source generic --map invoice_id="Doc No" --map amount=Gross

Mappable columns: {", ".join(MAPPABLE_INVOICE_COLUMNS)}.
"""

BEHAVIOUR_FIELDS = (
    "customer",
    "invoices",
    "median_days_to_pay",
    "p10_days_to_pay",
    "p90_days_to_pay",
    "median_days_late",
    "share_late",
    "disputed",
    "dispute_effect_days",
    "source",
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    receivables = subparsers.add_parser(
        "receivables",
        parents=[common],
        help="invoice lists, customers' payment behaviour and its backtest",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = receivables.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    common = after_action(common)

    ingest = actions.add_parser(
        "ingest",
        parents=[common],
        help="load an invoice list (CSV/XLSX) as an invoices snapshot",
        description=INGEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_upload_arguments(
        ingest,
        file_help="the invoice list, e.g. ar/invoices.csv",
        sources=INVOICE_PRESET_NAMES,
        source_help="which header set the file uses (default auto: detected from the headers)",
        as_of_help="the snapshot's date, YYYY-MM-DD (default: the newest invoice or paid date in the file)",
        map_help='read an invoice column from a source column (repeatable), e.g. --map invoice_id="Doc No"',
        label_example="Q3 AR",
    )
    ingest.set_defaults(func=run_ingest)

    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list invoice snapshots with their open invoices",
        description="List invoice snapshots, oldest as-of first, with the invoices open at each as-of "
        "date.\n\n"
        "example:\n  python -m core receivables list --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.set_defaults(func=run_list)

    behaviour = actions.add_parser(
        "behaviour",
        parents=[common],
        help="how each customer pays, learned from paid invoices",
        description="One row per customer: paid invoices learned from, median/P10/P90 days to pay, median "
        "days late, share paid late, dispute effect, and whether the figures are the customer's own "
        "(learned) or all customers' (fallback, fewer paid invoices than --min-samples).\n\n"
        'example:\n  python -m core receivables behaviour --customer "SABIC" --json',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _snapshot_options(behaviour)
    behaviour.add_argument(
        "--customer", metavar="NAME", help='only this customer, matched like deal organizations, e.g. "SABIC"'
    )
    behaviour.set_defaults(func=run_behaviour)

    backtest = actions.add_parser(
        "backtest",
        parents=[common],
        help="score the learned behaviour on invoices issued after a date",
        description="Learn only from invoices paid by --as-of and predict the payment date of every invoice "
        "issued after it that was later paid; MAE in days of the learned behaviour, of fixed terms and of "
        "'pays on the due date', bias and P10..P90 coverage.\n\n"
        "example:\n  python -m core receivables backtest --as-of 2026-06-30 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _snapshot_options(backtest, as_of_required=True)
    backtest.set_defaults(func=run_backtest)

    sample = actions.add_parser(
        "sample",
        parents=[common],
        help="write a generated invoice list whose customers pay in known ways",
        description="Write a deterministic invoice list (invoice_list headers, US dates) of customers with "
        "known payment behaviour; the shipped data/sample file is made this way.\n\n"
        "example:\n  python -m core receivables sample --invoices 600 --seed 7 out/invoices.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sample.add_argument("out", metavar="OUT", type=Path, help="the CSV file to write, e.g. out/invoices.csv")
    sample.add_argument(
        "--invoices", type=int, default=600, metavar="N", help="how many invoices (default 600)"
    )
    sample.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same bytes")
    sample.add_argument(
        "--as-of",
        type=iso_date,
        default=dt.date(2026, 10, 26),
        metavar="DATE",
        help="the export's date (YYYY-MM-DD)",
    )
    sample.set_defaults(func=run_sample)


def _snapshot_options(parser: argparse.ArgumentParser, *, as_of_required: bool = False) -> None:
    parser.add_argument(
        "--snapshot", default="latest", metavar="ID", help="invoice snapshot id or 'latest' (default)"
    )
    parser.add_argument(
        "--as-of",
        type=iso_date,
        required=as_of_required,
        metavar="DATE",
        help="learn from invoices paid by this date, YYYY-MM-DD"
        + ("" if as_of_required else " (default: the snapshot's as-of)"),
    )
    parser.add_argument(
        "--min-samples",
        type=int,
        default=MIN_CUSTOMER_SAMPLES,
        metavar="N",
        help=f"fewest paid invoices for a customer's own figures (default {MIN_CUSTOMER_SAMPLES})",
    )


def run_ingest(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        result = ingest_invoice_file(store, args.file, **upload_options(args, store))
    return print_upload(args, result)


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rows = [_listing(store, snapshot) for snapshot in store.list_snapshots(kind=KIND)]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No invoice snapshots yet; load one with: python -m core receivables ingest FILE")
        return 0
    print(f"{'id':>4}  {'as of':<10}  {'loaded':>7}  {'rejected':>8}  {'open':>5}  {'open amount':>14}  file")
    for row in rows:
        print(
            f"{row['id']:>4}  {row['as_of']!s:<10}  {row['rows_loaded']:>7}  {row['rows_rejected']:>8}  "
            f"{row['open_invoices']:>5}  {row['open_amount_base']:>14,.2f}  {row['file_name']}"
        )
    return 0


def _listing(store: Store, snapshot) -> dict:
    invoices = load_invoices(store, snapshot.id)
    open_now = invoices[open_at(invoices, snapshot.as_of)]
    return {
        **snapshot.model_dump(mode="json", include={"id", "as_of", "source", "file_name", "label"}),
        "rows_read": snapshot.rows_read,
        "rows_loaded": snapshot.rows_loaded,
        "rows_rejected": snapshot.rows_rejected,
        "open_invoices": len(open_now),
        "open_amount_base": round(float(open_now["amount_base"].sum()), 2),
    }


def _invoices_for(store: Store, args: argparse.Namespace):
    snapshot = store.resolve_snapshot(args.snapshot, kind=KIND)
    if args.min_samples < 1:
        raise InputError("--min-samples must be at least 1.")
    return snapshot, load_invoices(store, snapshot.id), load_assumptions(store).default_payment_days


def run_behaviour(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        snapshot, invoices, terms = _invoices_for(store, args)
    as_of = args.as_of or snapshot.as_of
    model = learn_behaviour(invoices, as_of, min_samples=args.min_samples, default_terms=terms)
    table = model.table(args.customer).loc[:, list(BEHAVIOUR_FIELDS)]
    rows = [
        {
            k: (None if isinstance(v, float) and v != v else (round(v, 2) if isinstance(v, float) else v))
            for k, v in row.items()
        }
        for row in table.to_dict("records")
    ]
    if args.json:
        print_json(
            {"snapshot_id": snapshot.id, "as_of": as_of, "min_samples": args.min_samples, "customers": rows}
        )
        return 0
    print(
        f"Payment behaviour from snapshot {snapshot.id}, invoices paid by {as_of} "
        "(days; late = after the due date)"
    )
    print(
        f"{'customer':<28} {'paid':>5} {'median':>7} {'P10':>6} {'P90':>6} {'late':>6} {'share late':>10} "
        f"{'dispute':>8}  source"
    )
    for row in rows:
        print(
            f"{str(row['customer'])[:28]:<28} {row['invoices']:>5} {_num(row['median_days_to_pay']):>7} "
            f"{_num(row['p10_days_to_pay']):>6} {_num(row['p90_days_to_pay']):>6} "
            f"{_num(row['median_days_late']):>6} {_num(row['share_late'], 2):>10} "
            f"{_num(row['dispute_effect_days']):>8}  {row['source']}"
        )
    return 0


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def run_backtest(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        snapshot, invoices, terms = _invoices_for(store, args)
    result = backtest_payments(
        invoices, args.as_of, default_terms=terms, min_samples=args.min_samples, snapshot_id=snapshot.id
    )
    if args.json:
        print_json(result.model_dump(mode="json"))
        return 0
    print(f"Payment backtest of snapshot {snapshot.id}: learned from invoices paid by {result.as_of}")
    for name, value in result.model_dump().items():
        if name not in ("as_of", "snapshot_id"):
            print(f"  {name.replace('_', ' '):<28} {'n/a' if value is None else value}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    if args.invoices < 1:
        raise InputError("--invoices must be at least 1.")
    history = generate_invoices(invoices=args.invoices, seed=args.seed, as_of=args.as_of)
    path = write_invoice_csv(history, args.out)
    if args.json:
        print_json({"out": str(path), "invoices": args.invoices, "as_of": args.as_of})
    else:
        print(f"Wrote {path}: {args.invoices} invoices as of {args.as_of} (plus 3 rows to be handled).")
    return 0
