"""Fixtures shared by the whole suite: stores in memory and on disk, settings without env."""

from __future__ import annotations

import pytest

from core.cashflow import sql
from core.cashflow.engines import get_refiner, register_refiner
from core.config import Settings
from core.store import Store

#: Loopback servers for tests: ``openai_server`` (chat completions) and ``oidc_provider`` (login).
pytest_plugins = ["tests.support.openai_server", "tests.support.oidc_provider"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests first, the rest in their shuffled order (pytest-randomly): the longest, eight
    Chromium sessions at once, must not start last on one worker while the others sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The order's seed, which ``-q`` leaves out of the header: a failure in one order replays with it."""
    seed = config.getoption("randomly_seed", None)
    if seed is not None:
        terminalreporter.write_line(f"Tests ran in random order; replay it with --randomly-seed={seed}")


@pytest.fixture
def registered_frames(monkeypatch) -> list[str]:
    """The names of the pandas frames handed to DuckDB (``sql.frames``) while the test runs."""
    names: list[str] = []
    frames = sql.frames

    def spied(**named):
        names.extend(named)
        return frames(**named)

    monkeypatch.setattr(sql, "frames", spied)
    return names


@pytest.fixture
def store():
    """A fresh in-memory store, closed after the test."""
    with Store(":memory:") as fresh:
        yield fresh


@pytest.fixture
def db_path(tmp_path):
    """A path for a DuckDB file in the test's own temporary folder."""
    return str(tmp_path / "dealcast.duckdb")


@pytest.fixture
def file_store(db_path):
    """A fresh store in a temporary DuckDB file, closed after the test."""
    with Store(db_path) as fresh:
        yield fresh


@pytest.fixture
def settings():
    """Settings with every default and nothing from the environment."""
    return Settings.from_env({})


@pytest.fixture
def llm_refiner_slot():
    """Lets a test register or remove the "llm" refiner; whatever was there is put back after."""
    before = get_refiner("llm")
    yield
    register_refiner("llm", before)
