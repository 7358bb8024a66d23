"""``python -m core sample``: write realistic, deterministic Pipedrive exports."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from core.cli._shared import print_json
from core.sample import generate_history, write_history
from core.sample.history import MAX_MESSY

FORMAT_CHOICES = {"csv": ("csv",), "xlsx": ("xlsx",), "both": ("csv", "xlsx")}

DESCRIPTION = f"""\
Simulate deals moving through the sales and project stages and write one Pipedrive
"Export deals" file per weekly snapshot (from 2026-09-07), named pipedrive_deals_<as-of>.<format>.
The same options always give byte-identical files.

examples:
  python -m core sample out/                          # 300 deals, 8 weekly CSV exports, seed 7
  python -m core sample --rows 1000 --snapshots 12 out/
  python -m core sample --seed 42 --format both out/  # CSV and XLSX of every snapshot
  python -m core sample --format xlsx --latest-only out/
  python -m core sample --stage-days-scale 1.5 out/   # every stage takes 1.5x the seed table's days
  python -m core sample --messy 0 out/                # clean files, no unreadable rows
  python -m core sample --messy {MAX_MESSY} out/              # as messy as it gets
  python -m core sample --json out/                   # [{{"path": ..., "as_of": ..., "rows": ...}}]
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="write realistic sample Pipedrive exports (deterministic)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                        help="folder to write into (created if missing), e.g. data/sample")
    parser.add_argument("--rows", type=_positive_int, default=300, metavar="N",
                        help="number of deals; the newest snapshot holds all (default 300), e.g. --rows 1000")
    parser.add_argument("--snapshots", type=_positive_int, default=8, metavar="K",
                        help="weekly snapshots from 2026-09-07 (default 8), e.g. --snapshots 12")
    parser.add_argument("--seed", type=int, default=7, metavar="S",
                        help="random seed; same seed, same bytes (default 7), e.g. --seed 42")
    parser.add_argument("--format", choices=sorted(FORMAT_CHOICES), default="csv",
                        help="file format (default csv), e.g. --format both")
    parser.add_argument("--latest-only", action="store_true",
                        help="write only the newest snapshot (the same file a full run writes last), "
                             "e.g. --format xlsx --latest-only")
    parser.add_argument("--stage-days-scale", type=_positive_float, default=1.0, metavar="X",
                        help="multiply every stage's mean days (default 1.0), e.g. --stage-days-scale 1.5")
    parser.add_argument("--messy", type=_share, default=0.03, metavar="X",
                        help=f"share of rows with messy but readable values, 0..{MAX_MESSY} (default 0.03); "
                             "above 0 a few unreadable rows are added too, e.g. --messy 0.1")
    parser.add_argument("--json", action="store_true",
                        help='print [{"path", "as_of", "rows"}] as JSON, e.g. --json')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    history = generate_history(
        deals=args.rows, snapshots=args.snapshots, seed=args.seed,
        stage_days_scale=args.stage_days_scale, messy=args.messy,
    )
    if args.latest_only:
        history = history[-1:]
    written = [
        {"path": str(path), "as_of": snapshot.as_of.isoformat(), "rows": len(snapshot.export)}
        for snapshot in history
        for path in write_history([snapshot], args.out_dir, formats=FORMAT_CHOICES[args.format])
    ]
    if args.json:
        print_json(written)
        return
    for item in written:
        print(f"{item['path']}  as of {item['as_of']}  {item['rows']} rows")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def _share(text: str) -> float:
    value = _float(text)
    if not 0 <= value <= MAX_MESSY:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_MESSY}, got {text}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
