"""``python -m core setup``: create the database and load the sample data when it is empty."""

from __future__ import annotations

import argparse

from core.access import command_line_user
from core.bootstrap import ensure_sample_data
from core.cli._shared import open_store, print_json


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "setup",
        parents=[common],
        help="create the database and load the bundled sample data if it is empty",
        description=(
            "Create (and migrate) the DuckDB database, then load the sample exports from "
            "data/sample/ when it holds no snapshots yet. Safe to run every time.\n\n"
            "example: python -m core setup --db data/dealcast.duckdb"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        loaded = ensure_sample_data(store, uploaded_by=command_line_user())
        snapshots = store.list_snapshots()
        database = store.database
    if args.json:
        print_json({
            "database": database,
            "loaded": [result.model_dump(mode="json") for result in loaded.deals],
            "invoices": loaded.invoices.model_dump(mode="json") if loaded.invoices else None,
            "snapshots": len(snapshots),
        })
        return
    if not loaded.deals:
        print(f"{database} already holds {len(snapshots)} deal snapshots; nothing loaded.")
        return
    rows = sum(result.rows_loaded for result in loaded.deals)
    invoices = f" and an invoice list ({loaded.invoices.rows_loaded} invoices)" if loaded.invoices else ""
    print(f"Loaded {len(loaded.deals)} sample deal snapshots ({rows} deal rows){invoices} into {database}.")
