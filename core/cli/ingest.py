"""``python -m core ingest`` and ``python -m core snapshots``: load exports, manage snapshots."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.access import command_line_user
from core.cashflow.assumptions import upload_rates
from core.cli._shared import open_store, print_json
from core.ingest import PRESET_NAMES, IngestResult, ingest_file
from core.ingest.mapping import MAPPABLE_COLUMNS, parse_map_options

if TYPE_CHECKING:
    from core.store import Store

#: Keys of ``ingest --json``, in order.
RESULT_KEYS = (
    "snapshot_id",
    "source",
    "as_of",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
    "rejects",
    "warnings",
    "duplicate_of",
)

INGEST_DESCRIPTION = f"""\
Read a CRM deal export (CSV or XLSX from Pipedrive, HubSpot, Salesforce or any tool) and
save it as one dated snapshot. Rows that cannot be read are rejected with the row, column,
value and reason; the rest loads. The same file twice is reported as already loaded.

examples:
  python -m core ingest exports/deals.csv
  python -m core ingest report.xlsx --source salesforce --as-of 2026-01-31
  python -m core ingest crm.csv --source generic --map title="Deal Name" --map value=Amount
  python -m core ingest deals.csv --label "month end" --json

Mappable columns: {", ".join(MAPPABLE_COLUMNS)}.
"""

def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        parents=[common],
        help="load a CRM deal export (CSV/XLSX) as a snapshot",
        description=INGEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_upload_arguments(
        ingest,
        file_help="the export to load, e.g. exports/deals.csv",
        sources=PRESET_NAMES,
        source_help="which CRM wrote the file (default auto: detected from the headers), "
        "e.g. --source hubspot",
        as_of_help="the snapshot's date, YYYY-MM-DD (default: the newest update/created date "
        "in the file, else today), e.g. --as-of 2026-01-31",
        map_help="read a deal column from a source column (repeatable), "
        'e.g. --map title="Deal Name" --map value=Amount',
        label_example="month end",
    )
    ingest.set_defaults(func=run_ingest)


def add_upload_arguments(
    parser: argparse.ArgumentParser,
    *,
    file_help: str,
    sources: tuple[str, ...],
    source_help: str,
    as_of_help: str,
    map_help: str,
    label_example: str,
) -> None:
    """The arguments of every ingest command (deal exports, invoice lists): FILE, --source,
    --as-of, --map and --label; ``upload_options`` turns them into the ingest's options."""
    parser.add_argument("file", metavar="FILE", type=Path, help=file_help)
    parser.add_argument("--source", choices=("auto", *sources), default="auto", help=source_help)
    parser.add_argument("--as-of", metavar="DATE", type=iso_date, help=as_of_help)
    parser.add_argument("--map", metavar="CANONICAL=COLUMN", action="append", dest="mapping", help=map_help)
    parser.add_argument(
        "--label", metavar="TEXT", help=f'a note stored with the snapshot, e.g. --label "{label_example}"'
    )


def upload_options(args: argparse.Namespace, store: Store) -> dict[str, Any]:
    """The ingest options (``IngestOptions``) of an ingest command's arguments, uploaded by the
    command line's user, with the currency rates of the store's saved profile (as the Upload
    page and the API use), so deals and invoices in another currency get a base amount."""
    return {
        "rates": upload_rates(store),
        "source": args.source,
        "as_of": args.as_of,
        "mapping": parse_map_options(args.mapping) or None,
        "label": args.label,
        "uploaded_by": command_line_user(),
    }


def print_upload(args: argparse.Namespace, result: IngestResult) -> int:
    """Print what an ingest did (``--json``: the ``RESULT_KEYS`` object); exit status 0."""
    if args.json:
        print_json(result_json(result))
    else:
        _print_result(result)
    return 0


def iso_date(text: str) -> dt.date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def run_ingest(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        result = ingest_file(store, args.file, **upload_options(args, store))
    return print_upload(args, result)


def result_json(result: IngestResult) -> dict:
    """The ``ingest --json`` object."""
    payload = result.model_dump(mode="json", include=set(RESULT_KEYS))
    return {key: payload[key] for key in RESULT_KEYS}


def _print_result(result: IngestResult) -> None:
    if result.duplicate_of is not None:
        print(f"{result.file_name} is already loaded as snapshot {result.duplicate_of}; nothing was written.")
    else:
        print(
            f"Loaded snapshot {result.snapshot_id} from {result.file_name} "
            f"(source {result.source}, as of {result.as_of.isoformat()})."
        )
    print(f"Rows read {result.rows_read}, loaded {result.rows_loaded}, rejected {result.rows_rejected}.")
    for reject in result.rejects:
        print(f"  rejected: {reject.reason}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
