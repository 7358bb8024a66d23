"""The command line as a whole: every command documented, errors as exit statuses."""

import argparse

import pytest

from core.cli import EXIT_BAD_INPUT, build_parser, main


def subcommand_parsers(parser: argparse.ArgumentParser, prefix: str = ""):
    """Yield (name, parser) for every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                yield full, sub
                yield from subcommand_parsers(sub, full)


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
