"""Fixtures for the browser test: the real dashboard server and a headless Chromium.

The server is ``streamlit run app.py`` in its own process on a free port, with
``DEALCAST_DB`` pointing at a new, empty DuckDB file and every Dealcast/LLM variable removed
from its environment, so the browser sees a newcomer's first run with the LLM off. The
browser is Debian's ``/usr/bin/chromium`` driven by Playwright (Playwright's own browser
download is never used: CI has no internet). When either cannot run, the test fails with
what is missing and how to install it; it never skips.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from core.config import ENV_PREFIX, PROJECT_ROOT, Settings

#: Debian's Chromium; DEALCAST_CHROMIUM points elsewhere (e.g. /usr/bin/chromium-browser).
CHROMIUM = Path(os.environ.get("DEALCAST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root in a container, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = "Install it with `sudo apt-get install -y chromium` (.ci/run does this on CI)."
#: Seconds the server may take to answer its health check; generous for a busy 2-core CI machine.
SERVER_START_TIMEOUT = 90
#: Milliseconds any single browser wait may take (a Streamlit rerun on a shared machine).
BROWSER_TIMEOUT_MS = 60_000
SERVER_LOG_TAIL_CHARS = 4000
#: Where screenshots go; CI can collect this folder (git ignores it).
ARTIFACTS = Path(os.environ.get("DEALCAST_ARTIFACTS", PROJECT_ROOT / "test-artifacts" / "browser"))
#: Variables that would switch the LLM on through a fallback name (e.g. OPENAI_API_KEY).
LLM_FALLBACK_ENV = {name for f in dataclasses.fields(Settings) for name in f.metadata["fallback_env"]}

expect.set_options(timeout=BROWSER_TIMEOUT_MS)


@dataclass(frozen=True)
class AppServer:
    """A running dashboard: its address, database and log file."""

    url: str
    database: Path
    log: Path

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log written)"
        return text[-SERVER_LOG_TAIL_CHARS:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(database: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment minus every Dealcast and LLM setting, plus the test database
    and the test's own ``extra`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k not in LLM_FALLBACK_ENV}
    env["DEALCAST_DB"] = str(database)
    return env | extra


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait_until_healthy(process: subprocess.Popen, server: AppServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(server.url):
        if process.poll() is not None:
            pytest.fail(f"The dashboard server exited with status {process.returncode} before answering "
                        f"{server.url}/_stcore/health. Server log:\n{server.log_tail()}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"The dashboard server did not answer {server.url}/_stcore/health within "
                        f"{SERVER_START_TIMEOUT} s. Server log:\n{server.log_tail()}", pytrace=False)
        time.sleep(0.25)


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and anything it started (it leads its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is not None and report.failed


@pytest.fixture
def app_env() -> dict[str, str]:
    """Settings a test adds to the server's environment (override the fixture to add some)."""
    return {}


@pytest.fixture
def app_port() -> int:
    """The port the dashboard will listen on (known before it starts, e.g. for a login redirect)."""
    return _free_port()


@pytest.fixture
def app_server(tmp_path, request, app_env, app_port) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port over a new, empty database; stopped afterwards.

    Started as ``make run`` starts it, so ``.streamlit/config.toml`` decides the rest (it
    listens on 127.0.0.1). When the test fails, the server log's tail is printed (app
    exceptions are logged there).
    """
    port = app_port
    server = AppServer(url=f"http://127.0.0.1:{port}", database=tmp_path / "dealcast.duckdb",
                       log=tmp_path / "streamlit.log")
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]
    with server.log.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_clean_env(server.database, app_env),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_healthy(process, server)
        yield server
    finally:
        _stop(process)
    if _failed(request):
        print(f"Dashboard server log ({server.log}):\n{server.log_tail()}")


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright, stopped after the test.

    Per test, not per session: Playwright's sync API keeps an event loop in the main thread
    while it runs, which must not outlive the browser test into the rest of the suite.
    """
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        elsewhere = f" (found {found}: set DEALCAST_CHROMIUM to it)" if found else ""
        pytest.fail(f"The browser test needs Chromium at {CHROMIUM}, which is missing{elsewhere}. "
                    f"{INSTALL_HINT}", pytrace=False)
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start under Playwright: {exc.message}\n"
                        f"{INSTALL_HINT}", pytrace=False)
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request) -> Iterator[Page]:
    """A fresh browser tab; when the test fails, a screenshot of it lands in the artifacts."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    if _failed(request):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=ARTIFACTS / f"{request.node.name}-failed.png", full_page=True)
    context.close()
