"""Fixtures for page tests: the app run through Streamlit's AppTest on a temporary database.

Every test gets its own DuckDB file (a copy of one sample-loaded database built once per
session), the LLM switched off, and fresh Streamlit caches, so pages see exactly what the
test set up.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.components.v2 import manifest_scanner
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.bootstrap import load_sample_data
from core.config import get_settings
from core.formatting import WORD_JOINER
from core.store import Store, get_store

APP = str(Path(__file__).resolve().parents[2] / "app.py")
LLM_ENV = ("DEALCAST_LLM_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEALCAST_LLM_BASE_URL")
#: Seconds a single script run may take in a test; generous for a shared CI machine.
RUN_TIMEOUT = 60


@pytest.fixture(scope="session", autouse=True)
def components_scanned_once() -> Iterator[None]:
    """Each AppTest's first run scans the metadata of every installed package for Streamlit
    components (~0.25 s); the packages do not change during the session, so scan once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests",
                      functools.cache(manifest_scanner.scan_component_manifests))
        yield


@pytest.fixture(scope="session")
def sample_database(tmp_path_factory) -> Path:
    """A DuckDB file holding the bundled sample (8 weekly snapshots), built once."""
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    with Store(str(path)) as store:
        load_sample_data(store)
    return path


def _use_database(monkeypatch, path: Path) -> Store:
    monkeypatch.setenv("DEALCAST_DB", str(path))
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    return get_store()


@pytest.fixture
def sample_store(tmp_path, monkeypatch, sample_database) -> Store:
    """The app's store on a private copy of the sample database."""
    path = tmp_path / "dealcast.duckdb"
    shutil.copyfile(sample_database, path)
    store = _use_database(monkeypatch, path)
    yield store
    store.close()
    get_settings.cache_clear()


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Store:
    """The app's store on a new, empty database."""
    store = _use_database(monkeypatch, tmp_path / "empty.duckdb")
    yield store
    store.close()
    get_settings.cache_clear()


@pytest.fixture
def open_page() -> Callable[[str], AppTest]:
    """Run the app and switch to ``views/<name>.py``; returns the finished AppTest."""

    def open_(name: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        at.run()
        at.switch_page(f"views/{name}.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_


@pytest.fixture
def downloaded(monkeypatch) -> Callable[[AppTest, str], bytes]:
    """``downloaded(at, key)``: the bytes a click on the download button ``key`` would give
    (the page passes a builder that Streamlit runs on click; this runs it)."""
    builders: dict[str, Callable[[], bytes]] = {}
    add_deferred = MediaFileManager.add_deferred

    def recording(self, data, *args, **kwargs):
        file_id = add_deferred(self, data, *args, **kwargs)
        builders[file_id] = data
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)

    def download(at: AppTest, key: str) -> bytes:
        button = next(b for b in at.get("download_button") if b.proto.id.endswith(f"-{key}"))
        return builders[button.proto.deferred_file_id]()

    return download


def shown(markdown: str) -> str:
    """The text a reader sees from Markdown that ``core.formatting.plain_markdown`` escaped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "").replace("  \n", "\n")
