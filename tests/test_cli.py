"""The command line as a whole: every command documented, errors as exit statuses."""

import argparse
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import cli
from core.cli import EXIT_BAD_INPUT, build_parser, common_options, main
from core.store import Store
from tests.cashflow.helpers import AS_OF, deals, save


def subcommand_parsers(parser: argparse.ArgumentParser, prefix: str = ""):
    """Yield (name, parser) for every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                yield full, sub
                yield from subcommand_parsers(sub, full)


ROOT = Path(__file__).resolve().parent.parent
COMMANDS = dict(subcommand_parsers(build_parser()))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_description_with_an_example(name):
    description = COMMANDS[name].description or ""
    assert "example" in description.lower(), f"`{name}` --help has no example"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_text(name):
    for action in COMMANDS[name]._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"`{name}` option {action.option_strings} has no help"


def test_unknown_command_exits_2_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == EXIT_BAD_INPUT
    assert "invalid choice" in capsys.readouterr().err


def test_command_table_names_what_each_module_registers():
    modules = {}
    for info in pkgutil.iter_modules(cli.__path__):
        module = importlib.import_module(f"core.cli.{info.name}")
        if hasattr(module, "register"):
            parser = argparse.ArgumentParser()
            subparsers = parser.add_subparsers()
            module.register(subparsers, common_options())
            for action in subparsers._choices_actions:
                modules[action.dest] = (info.name, action.help)
    assert modules == cli.COMMANDS


#: What starting the command line and listing snapshots have no use for: the frame libraries,
#: the engines and the ingest, and structlog (with asyncio, ~30 ms), which a run that logs
#: nothing never needs.
NOT_FOR_A_LIGHT_COMMAND = (
    "pandas", "numpy", "plotly", "pyarrow", "core.cashflow", "core.ingest", "structlog", "asyncio"
)


@pytest.mark.parametrize(
    "argv", [["--help"], ["snapshots", "--db", "{db}"], ["snapshots", "list", "--json", "--db", "{db}"]]
)
def test_help_and_snapshots_start_without_the_frame_libraries_or_the_engines(argv, db_path):
    """The command line imports only the module of the command it runs (a new process, as a user runs it)."""
    argv = [word.format(db=db_path) for word in argv]
    _, last = loaded_by_the_command_line(argv, NOT_FOR_A_LIGHT_COMMAND)
    assert last[0] == "loaded: "


def test_a_command_of_a_module_with_several_parses_alone():
    args = build_parser(["backtest"]).parse_args(["backtest", "--from", "1"])
    assert args.command == "backtest" and args.from_snapshot == "1"


#: What a rules forecast without the LLM has no use for: the frame libraries (the rules and
#: the periods run in DuckDB), the LLM path's templates, the other engines and the backtest,
#: the file readers of the ingest, Excel and charts, metrics and traces when nothing turns
#: them on, and structlog and asyncio when nothing is logged.
NOT_FOR_A_RULES_FORECAST = (
    "pandas",
    "numpy",
    "pyarrow",
    "structlog",
    "asyncio",
    "jinja2",
    "core.prompts",
    "core.llm",
    "core.cashflow.learned",
    "core.cashflow.learned_model",
    "core.cashflow.estimates",
    "core.cashflow.auto",
    "core.cashflow.naive",
    "core.cashflow.backtest",
    "core.cashflow.llm_refiner",
    "core.ingest",
    "core.receivables.ingest",
    "openpyxl",
    "plotly",
    "prometheus_client",
    "opentelemetry",
)


def loaded_by_the_command_line(argv: list[str], names) -> tuple[str, list[str]]:
    """``python -m core ARGV`` in a new process, as a user runs it: its output, which of
    ``names`` (modules and their packages) it imported, and its Arrow allocator."""
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['core', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('core', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "loaded = {part for name in sys.modules for part in (name, name.split('.')[0])}\n"
        f"print('loaded:', ','.join(sorted(set({tuple(names)!r}) & loaded)))\n"
        "import pyarrow\n"
        "print('arrow memory:', pyarrow.default_memory_pool().backend_name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return done.stdout, done.stdout.splitlines()[-2:]


def test_a_rules_forecast_imports_only_what_it_uses(db_path):
    """``python -m core forecast`` on a stored snapshot; its Arrow buffers come from the C
    library's allocator (core/__main__.py says why)."""
    with Store(db_path) as store:
        save(store, deals({"deal_id": "1", "stage": "Approved"}), AS_OF)
    output, last = loaded_by_the_command_line(["forecast", "--db", db_path], NOT_FOR_A_RULES_FORECAST)
    assert "Forecast of snapshot" in output
    assert last == ["loaded: ", "arrow memory: system"], output


def test_an_ingest_loads_no_forecast_no_metrics_and_no_pandas(db_path):
    """A CSV goes from DuckDB's reader into the database: pandas (~0.3 s to import) is not needed."""
    export = str(ROOT / "data" / "sample" / "pipedrive_deals_2026-09-07.csv")
    output, last = loaded_by_the_command_line(
        ["ingest", export, "--db", db_path],
        ("core.cashflow.aggregate", "core.cashflow.rules", "core.cashflow.service", "prometheus_client",
         "opentelemetry", "plotly", "pandas"),
    )
    assert "snapshot" in output.lower()
    assert last == ["loaded: ", "arrow memory: system"], output


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(db_path):
    """``python -m core forecast | head -1``: the command stops quietly when nobody reads on."""
    with Store(db_path) as store:
        save(store, deals({"deal_id": "1", "stage": "Approved"}), AS_OF)
    command = [sys.executable, "-m", "core", "forecast", "--db", db_path]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # before the command writes its first line
    error = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait() == 1
    assert error == ""
