"""Benchmark: page times with many users at once on one dashboard server.

    .venv/bin/python bench/sessions.py                  # 1 (baseline), 8 and 16 sessions
    .venv/bin/python bench/sessions.py --sessions 1 8

For each count, a fresh server is started as ``make run`` starts it (``streamlit run app.py``
on a free loopback port, over a new temporary DuckDB file, LLM off), and that many headless
Chromium sessions walk the main path side by side (tests/browser/sessions.py): upload a
different generated export each, open Forecast, move the horizon slider, open a deal. A
page time is from the click on the sidebar link to the end of that page's script run, as
the user waits for it; the table gives p50 and p95 over all sessions' Upload, Forecast and
Deal page opens, and their ratio to one session alone (the baseline, measured in the same
run). Needs Debian's /usr/bin/chromium. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.sessions import make_exports, walk  # noqa: E402

PAGES = ("upload", "forecast", "deal")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALCAST_")}
    env |= {"DEALCAST_DB": str(folder / "dealcast.duckdb"), "DEALCAST_LLM_API_KEY": "",
            "DEALCAST_LLM_BASE_URL": "https://openrouter.ai/api/v1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENROUTER_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.25)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"the dashboard did not start on {url}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(count: int) -> tuple[list[float], float]:
    """Page times (seconds) of ``count`` sessions at once, and the whole walk's wall time."""
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                started = time.perf_counter()
                sessions = walk(browser, url, make_exports(count))
                wall = time.perf_counter() - started
                browser.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return [s.page_seconds[page] for s in sessions for page in PAGES], wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args(argv)
    columns = ("sessions", "pages", "p50 s", "p95 s", "p50/1", "p95/1", "walk s")
    print("  ".join(f"{name:>8}" for name in columns))
    baseline: tuple[float, float] | None = None
    for count in args.sessions:
        times, wall = run(count)
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        baseline = baseline or (p50, p95)
        row = (f"{count}", f"{len(times)}", f"{p50:.2f}", f"{p95:.2f}", f"{p50 / baseline[0]:.1f}",
               f"{p95 / baseline[1]:.1f}", f"{wall:.1f}")
        print("  ".join(f"{cell:>8}" for cell in row), flush=True)


if __name__ == "__main__":
    main()
