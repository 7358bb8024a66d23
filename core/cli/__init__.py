"""``python -m core``: the command line, a thin layer over the library.

Each module in this package that defines ``register(subparsers, common)`` adds its
subcommands; this file finds them, parses the arguments, and turns Dealcast's errors into
one line on stderr and an exit status: 0 ok, 1 failed, 2 bad arguments or input.
A subcommand's handler is stored as ``func`` and returns the exit status (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from core.errors import DealcastError, InputError, NotFoundError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one clear line on a usage error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def common_options() -> argparse.ArgumentParser:
    """Options every data command shares: ``--db`` and ``--json``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db", metavar="CONNECTION",
        help="DuckDB file path or connection string (default: DEALCAST_DB or data/dealcast.duckdb)",
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m core",
        description="Dealcast: CRM deal exports in, cash forecast out.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    common = common_options()
    for module in command_modules():
        module.register(subparsers, common)
    return parser


def command_modules() -> list:
    """Every module of this package that registers subcommands, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            found.append(module)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (InputError, NotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DealcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if status is None else int(status)
