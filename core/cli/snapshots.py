"""``snapshots``: list stored snapshots, write one's original file back out, or delete one.

Light on imports (the store only), so listing snapshots starts in a blink.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.access import command_line_user
from core.cli._shared import after_action, open_store, print_json
from core.errors import InputError

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
    snapshots = subparsers.add_parser(
        "snapshots",
        parents=[common],
        help="list, export or delete stored snapshots",
        description=SNAPSHOTS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    snapshots.set_defaults(func=run_list)
    actions = snapshots.add_subparsers(dest="action", metavar="ACTION")
    common = after_action(common)
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
        store.delete_snapshot(snapshot.id, deleted_by=command_line_user())
    if args.json:
        print_json({"deleted": snapshot.id})
    else:
        print(f"Deleted snapshot {snapshot.id} ({snapshot.file_name}, as of {snapshot.as_of.isoformat()}).")
    return 0
