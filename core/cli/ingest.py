"""``python -m core ingest`` and ``python -m core snapshots``: load exports, manage snapshots."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from core.cashflow.assumptions import upload_rates
from core.cli._shared import open_store, print_json
from core.config import get_settings
from core.errors import InputError
from core.ingest import PRESET_NAMES, IngestResult, ingest_file
from core.ingest.mapping import MAPPABLE_COLUMNS, parse_map_options

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

SNAPSHOTS_DESCRIPTION = """\
List the stored snapshots (the default), write one's original file back out unchanged, or
delete one with everything stored with it.

examples:
  python -m core snapshots
  python -m core snapshots list --json
  python -m core snapshots export 3 --out deals-as-uploaded.csv
  python -m core snapshots delete 3 --yes
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        parents=[common],
        help="load a CRM deal export (CSV/XLSX) as a snapshot",
        description=INGEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("file", metavar="FILE", type=Path, help="the export to load, e.g. exports/deals.csv")
    ingest.add_argument(
        "--source",
        choices=("auto", *PRESET_NAMES),
        default="auto",
        help="which CRM wrote the file (default auto: detected from the headers), e.g. --source hubspot",
    )
    ingest.add_argument(
        "--as-of",
        metavar="DATE",
        type=_date,
        help="the snapshot's date, YYYY-MM-DD (default: the newest update/created date "
        "in the file, else today), e.g. --as-of 2026-01-31",
    )
    ingest.add_argument(
        "--map",
        metavar="CANONICAL=COLUMN",
        action="append",
        dest="mapping",
        help="read a deal column from a source column (repeatable), "
        'e.g. --map title="Deal Name" --map value=Amount',
    )
    ingest.add_argument(
        "--label", metavar="TEXT", help='a note stored with the snapshot, e.g. --label "month end"'
    )
    ingest.set_defaults(func=run_ingest)

    snapshots = subparsers.add_parser(
        "snapshots",
        parents=[common],
        help="list, export or delete stored snapshots",
        description=SNAPSHOTS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    snapshots.set_defaults(func=run_list)
    actions = snapshots.add_subparsers(dest="action", metavar="ACTION")
    common = _after_action(common)
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list snapshots, oldest as-of first (the default action)",
        description="List snapshots with their counts, oldest as-of first.\n\nexample:\n"
        "  python -m core snapshots list --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.set_defaults(func=run_list)
    export = actions.add_parser(
        "export",
        parents=[common],
        help="write a snapshot's original file, byte for byte",
        description="Write the file a snapshot was loaded from, unchanged.\n\nexample:\n"
        "  python -m core snapshots export 3 --out deals-as-uploaded.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("snapshot_id", metavar="ID", type=int, help="the snapshot id, e.g. 3")
    export.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        required=True,
        help="where to write the file, e.g. --out deals.csv",
    )
    export.set_defaults(func=run_export)
    delete = actions.add_parser(
        "delete",
        parents=[common],
        help="delete a snapshot and everything stored with it",
        description="Delete a snapshot, its deals, rejected rows and original file. Needs --yes.\n\n"
        "example:\n  python -m core snapshots delete 3 --yes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    delete.add_argument("snapshot_id", metavar="ID", type=int, help="the snapshot id, e.g. 3")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion, e.g. --yes")
    delete.set_defaults(func=run_delete)


def _after_action(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--db``/``--json`` again for after the action word, without defaults of their own, so
    ``snapshots --db X list`` keeps X (argparse lets a subparser's defaults win)."""
    again = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    for action in common._actions:
        again.add_argument(*action.option_strings, **_copy_options(action))
    return again


def _copy_options(action: argparse.Action) -> dict:
    options = {"help": action.help}
    if isinstance(action, argparse._StoreTrueAction):
        options["action"] = "store_true"
    else:
        options["metavar"] = action.metavar
    return options


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def run_ingest(args: argparse.Namespace) -> int:
    mapping = parse_map_options(args.mapping)
    with open_store(args) as store:
        result = ingest_file(
            store, args.file, source=args.source, as_of=args.as_of, mapping=mapping or None, label=args.label,
            rates=upload_rates(store, get_settings().base_currency),
        )
    if args.json:
        print_json(result_json(result))
    else:
        _print_result(result)
    return 0


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


def run_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        snapshots = store.list_snapshots()
    if args.json:
        print_json([s.model_dump(mode="json", exclude={"mapping", "detection"}) for s in snapshots])
        return 0
    if not snapshots:
        print("No snapshots yet; load one with: python -m core ingest FILE")
        return 0
    rows = [("id", "as of", "source", "read", "loaded", "rejected", "file", "label")]
    rows += [
        (
            str(s.id),
            s.as_of.isoformat(),
            s.source,
            str(s.rows_read),
            str(s.rows_loaded),
            str(s.rows_rejected),
            s.file_name,
            s.label or "",
        )
        for s in snapshots
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {0, 3, 4, 5}
    for row in rows:
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    return 0


def run_export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        name, content = store.raw_file(store.get_snapshot(args.snapshot_id).id)
    try:
        args.out.write_bytes(content)
    except OSError as exc:
        raise InputError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    if args.json:
        print_json(
            {"snapshot_id": args.snapshot_id, "file_name": name, "out": str(args.out), "bytes": len(content)}
        )
    else:
        print(f"Wrote {args.out} ({len(content)} bytes), the original {name} of snapshot {args.snapshot_id}.")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InputError(f"refusing to delete snapshot {args.snapshot_id} without --yes.")
    with open_store(args) as store:
        snapshot = store.get_snapshot(args.snapshot_id)
        store.delete_snapshot(snapshot.id)
    if args.json:
        print_json({"deleted": snapshot.id})
    else:
        print(f"Deleted snapshot {snapshot.id} ({snapshot.file_name}, as of {snapshot.as_of.isoformat()}).")
    return 0
