"""Eight users at once on one dashboard server (started as ``make run`` starts it).

Each uploads a different generated export, picks its snapshot, opens Forecast, moves the
horizon slider to its own value and opens its own deal, with every step in flight in all
eight sessions together (tests/browser/sessions.py). Passes when no page shows an
exception and the server logged none, all eight snapshots are saved with the right counts,
and each session still sees its own snapshot, horizon and deal once all have moved.
Page times at 8 and 16 sessions: bench/sessions.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import AppServer
from tests.browser.sessions import make_exports, walk
from tests.browser.steps import open_page

pytestmark = pytest.mark.browser

SESSIONS = 8


def test_eight_sessions_at_once_each_keep_their_own_upload_slider_and_deal(
        browser: Browser, app_server: AppServer):
    exports = make_exports(SESSIONS)
    assert len({export.rows_loaded for export in exports}) == SESSIONS, "every file is different"

    sessions = walk(browser, app_server.url, exports)

    assert sorted(s.snapshot_id for s in sessions) == list(range(1, SESSIONS + 1))
    assert [s.saved for s in sessions] == [(e.rows_loaded, e.rows_rejected) for e in exports]
    for s in sessions:  # once everyone has moved: each still sees its own choices
        page = s.page
        expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Snapshot")).to_have_value(
            re.compile(f"^#{s.snapshot_id} · .* · {s.export.name}$"))
        expect(page.get_by_role("combobox", name="Deal")).to_have_value(re.compile(f"^{s.export.deal_id} — "))
        expect(page.get_by_test_id("stException")).to_have_count(0)
    first = sessions[0].page
    open_page(first, "upload", "Upload")
    table = first.get_by_test_id("stDataFrame").filter(has=first.locator("th", has_text="uploaded by"))
    expect(table.locator("table[role=grid]")).to_have_attribute("aria-rowcount", str(SESSIONS + 1))
    for s in sessions:
        s.context.close()
    log = app_server.log.read_text()
    assert "Traceback" not in log and "Uncaught app exception" not in log, app_server.log_tail()
