"""Many users at once: browser sessions walking the main path side by side on one server.

Each session is its own browser context (its own cookies, so its own Streamlit session). It
uploads its own generated export (which becomes its snapshot on every page), opens Forecast, moves
the horizon slider to a value of its own and opens a deal of its own. Playwright's sync API
drives one page at a time, so each step is started in every session before any is waited
for: the server has all of them in flight at once. ``walk`` returns what each session saw
and how long each page took, for the test (tests/browser/test_sessions.py) and the
benchmark (bench/sessions.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.ingest import parse_export
from core.sample.files import csv_bytes
from core.sample.history import generate_history
from tests.browser.steps import settled

#: Milliseconds a browser wait may take with many sessions on a 2-core machine.
SESSION_TIMEOUT_MS = 120_000
#: The Forecast page's default horizon (days), where each session's slider starts.
HORIZON = 90
SAVED = re.compile(r"Saved snapshot (\d+): ([\d,]+) deals loaded, ([\d,]+) rejected")


@dataclass
class Export:
    """One session's file and what ingest must make of it."""

    name: str
    data: bytes
    rows_loaded: int
    rows_rejected: int
    deal_id: str  # a deal of this file that loads
    as_of: str


def make_exports(count: int) -> list[Export]:
    """``count`` different generated Pipedrive exports (8, 9, 10... deals: small, so the browsers'
    work is the pages, not long tables), each with a known outcome."""
    exports = []
    for number in range(count):
        snapshot = generate_history(deals=8 + number, snapshots=1, seed=1000 + number)[-1]
        data = csv_bytes(snapshot)
        parsed = parse_export(data, f"export-{number}.csv")
        exports.append(Export(f"export-{number}.csv", data, parsed.rows_loaded, parsed.rows_rejected,
                              str(parsed.deals["deal_id"].iloc[number % parsed.rows_loaded]),
                              snapshot.as_of.isoformat()))
    return exports


@dataclass
class Session:
    """One user: a browser context, the page, the export and what the session saw."""

    context: BrowserContext
    page: Page
    export: Export
    horizon: int
    snapshot_id: int | None = None
    saved: tuple[int, int] | None = None  # (loaded, rejected) as the page reported them
    page_seconds: dict[str, float] = field(default_factory=dict)


def _start_nav(page: Page, url_path: str) -> float:
    page.get_by_test_id("stSidebarNav").locator(f'a[href$="/{url_path}"]').click()
    return time.perf_counter()


def _wait_page(session: Session, name: str, title: str, started: float) -> None:
    expect(session.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settled(session.page)
    session.page_seconds[name] = time.perf_counter() - started


def horizon_of(number: int) -> int:
    """Session ``number``'s own horizon: 91, 89, 92, 88... days, one to four key presses from 90."""
    steps = number // 2 + 1
    return HORIZON + (steps if number % 2 == 0 else -steps)


def walk(browser: Browser, url: str, exports: list[Export]) -> list[Session]:
    """Every session walks upload, own snapshot, Forecast + slider, Deal; returns them, open."""
    sessions = []
    for number, export in enumerate(exports):
        context = browser.new_context(viewport={"width": 1024, "height": 768}, reduced_motion="reduce")
        context.set_default_timeout(SESSION_TIMEOUT_MS)
        sessions.append(Session(context, context.new_page(), export, horizon=horizon_of(number)))
    for s in sessions:
        s.page.goto(url)
    for s in sessions:
        settled(s.page)

    started = {id(s): _start_nav(s.page, "upload") for s in sessions}
    for s in sessions:
        _wait_page(s, "upload", "Upload", started[id(s)])
        s.page.locator(".st-key-upload input[type=file]").set_input_files(
            files=[{"name": s.export.name, "mimeType": "text/csv", "buffer": s.export.data}])
    for s in sessions:
        expect(s.page.get_by_role("button", name="Save snapshot")).to_be_visible()
        settled(s.page)
    for s in sessions:
        s.page.get_by_role("button", name="Save snapshot").click()
    for s in sessions:
        saved = s.page.get_by_test_id("stAlertContentSuccess").filter(has_text=SAVED)
        expect(saved).to_be_visible()
        found = SAVED.search(saved.inner_text()).groups()
        snapshot_id, loaded, rejected = (int(number.replace(",", "")) for number in found)
        s.snapshot_id, s.saved = snapshot_id, (loaded, rejected)
        settled(s.page)

    started = {id(s): _start_nav(s.page, "forecast") for s in sessions}
    for s in sessions:
        _wait_page(s, "forecast", "Forecast", started[id(s)])
    for s in sessions:
        horizon = s.page.locator(".st-key-horizon input[type=range]")
        horizon.focus()
        for _ in range(abs(s.horizon - HORIZON)):
            horizon.press("ArrowRight" if s.horizon > HORIZON else "ArrowLeft")
    for s in sessions:
        expect(s.page.locator(".st-key-horizon input[type=range]")).to_have_value(str(s.horizon))
        settled(s.page)

    started = {id(s): _start_nav(s.page, "deal") for s in sessions}
    for s in sessions:
        _wait_page(s, "deal", "Deal", started[id(s)])
        s.page.locator(".st-key-deal_search input").fill(s.export.deal_id)
        s.page.locator(".st-key-deal_search input").press("Enter")
    for s in sessions:
        deal = s.page.get_by_role("combobox", name="Deal")
        expect(deal).to_have_value(re.compile(f"^{s.export.deal_id} — "))
        settled(s.page)
    return sessions
