"""``python -m core``: the command line, a thin layer over the library.

Each module in this package that defines ``register(subparsers, common)`` adds its
subcommands, and ``COMMANDS`` names them with their one-line help. A run imports only the
module of the command it runs (the rest are listed from the table), so ``--help`` and light
commands such as ``snapshots`` start without pandas, plotly or the engines. This file
parses the arguments and turns Dealcast's errors into one line on stderr and an exit
status: 0 ok, 1 failed, 2 bad arguments or input. A subcommand's handler is stored as
``func`` and returns the exit status (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence

from core.errors import DealcastError, InputError, NotFoundError, first_line

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: Subcommand -> (module of this package whose ``register`` adds it, its one-line help), in the
#: order ``--help`` lists them. A new command adds its line here; a test checks the table
#: against what the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "setup": ("setup", "create the database and load the bundled sample data if it is empty"),
    "ingest": ("ingest", "load a CRM deal export (CSV/XLSX) as a snapshot"),
    "snapshots": ("snapshots", "list, export or delete stored snapshots"),
    "forecast": ("forecast", "forecast invoices and cash in per week or month"),
    "backtest": ("forecast", "score a forecast from an earlier snapshot against later ones"),
    "receivables": ("receivables", "invoice lists, customers' payment behaviour and its backtest"),
    "llm": ("llm", "LLM status and a test question"),
    "prompts": ("prompts", "list, show and render prompt templates; compare A/B variants"),
    "write": ("write", "summaries, checks, emails and reminders for a deal (LLM optional)"),
    "sample": ("sample", "write realistic sample Pipedrive exports (deterministic)"),
    "serve": ("serve", "serve the HTTP API (FastAPI on uvicorn)"),
}


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


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full definitions of ``commands`` (default: every command).

    The other commands are listed by name and help only, without importing their modules
    (a module registering several commands defines them all)."""
    parser = _Parser(
        prog="python -m core",
        description="Dealcast: CRM deal exports in, cash forecast out.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    common = common_options()
    modules = {COMMANDS[name][0] for name in (COMMANDS if commands is None else commands)}
    registered: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if module not in modules:
            subparsers.add_parser(name, help=help_text, add_help=False)
        elif module not in registered:
            importlib.import_module(f"{__name__}.{module}").register(subparsers, common)
            registered.add(module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The top-level parser has no option that takes a value: the first word is the command.
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser([command] if command in COMMANDS else []).parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # here, so a reader that went away is caught below, not at exit
    except BrokenPipeError:
        # The reader closed the pipe (``... | head``): nobody is left to tell. Point stdout at
        # devnull so Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except (InputError, NotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DealcastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        print(f"error: the database failed: {first_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if status is None else int(status)


def _is_database_error(exc: Exception) -> bool:
    """A DuckDB error (a disk full, a file another program changed): one line, not a traceback.
    DuckDB is looked up, not imported, so ``--help`` stays light."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.Error)
