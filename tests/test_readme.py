"""The README is documentation people follow: its promises are checked here."""

from pathlib import Path

from core.config import SETTINGS
from tests.test_cli import COMMANDS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_setup_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_documents_every_setting():
    for info in SETTINGS:
        stem = info.env.removesuffix("_FAST").removesuffix("_BALANCED").removesuffix("_ADVANCED")
        assert stem in README, f"README does not document {info.env}"


def test_readme_shows_every_command():
    top_level = {name.split()[0] for name in COMMANDS}
    for name in sorted(top_level):
        assert f"python -m core {name}" in README, f"README has no example of `python -m core {name}`"
