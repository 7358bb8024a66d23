"""data/sample/ is exactly what the commands in its README generate, so it cannot drift."""

from __future__ import annotations

import re
import shlex

from core.cli import EXIT_OK, main
from core.config import SAMPLE_DIR

SHIPPED_OUT_DIR = "data/sample"


def documented_commands() -> list[list[str]]:
    """The ``python -m core sample ...`` lines of data/sample/README.md, as argument lists."""
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^python -m core (sample .+)$", readme, flags=re.MULTILINE)
    return [shlex.split(line) for line in lines]


def test_shipped_sample_readme_documents_commands_that_write_into_data_sample():
    commands = documented_commands()
    assert len(commands) == 2
    assert all(command[-1] == SHIPPED_OUT_DIR for command in commands)


def test_shipped_sample_is_byte_for_byte_what_the_documented_commands_write(tmp_path, capsys):
    for command in documented_commands():
        assert main([*command[:-1], str(tmp_path)]) == EXIT_OK
    capsys.readouterr()
    generated = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    shipped = {p.name: p.read_bytes() for p in SAMPLE_DIR.iterdir() if p.name != "README.md"}
    assert sorted(shipped) == sorted(generated)
    for name, data in generated.items():
        assert shipped[name] == data, f"data/sample/{name} differs from what its README's commands write"


def test_shipped_sample_has_eight_weekly_csvs_and_the_newest_as_xlsx_under_1_mb():
    files = sorted(p.name for p in SAMPLE_DIR.iterdir() if p.name != "README.md")
    assert len([name for name in files if name.endswith(".csv")]) == 8
    assert [name for name in files if name.endswith(".xlsx")] == ["pipedrive_deals_2026-10-26.xlsx"]
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 1_000_000
