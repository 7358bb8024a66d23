"""The layer rules of DESIGN section 2, read from the source: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(folder: str, forbidden: str) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / folder).rglob("*.py")
        for name in imported_modules(path)
        if name == forbidden or name.startswith(f"{forbidden}.")
    )


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("core", "streamlit"),
    ("core/receivables", "core.cashflow"),  # invoice data sits below cashflow
])
def test_layer_does_not_import(folder, forbidden):
    assert offending(folder, forbidden) == []


def test_pages_use_only_the_llm_package_surface():
    """Pages reach the LLM through ``core.llm``'s public names, never its submodules."""
    submodules = {path.stem for path in (ROOT / "core" / "llm").glob("*.py")} - {"__init__"}
    reached = [line for line in offending("views", "core.llm")
               if line.split(" imports core.llm.")[-1].split(".")[0] in submodules]
    assert reached == []


@pytest.mark.parametrize(("folder", "most_lines"), [("core", 500), ("views", 250)])
def test_modules_stay_short_enough_to_read(folder, most_lines):
    """Issue 19's targets: a module of core/ or a page that grows past them is split along its seams."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > most_lines
    }
    assert too_long == {}
