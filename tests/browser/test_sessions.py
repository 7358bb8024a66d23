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

from core.store import Store
from tests.browser.conftest import AppServer
from tests.browser.sessions import make_exports, walk

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
    for s in sessions:
        s.context.close()
    with Store(str(app_server.database)) as store:  # the server holds the file only while it works
        stored = {s.id: (s.file_name, s.rows_loaded, s.rows_rejected) for s in store.list_snapshots()}
    assert stored == {s.snapshot_id: (s.export.name, s.export.rows_loaded, s.export.rows_rejected)
                      for s in sessions}
    log = app_server.log.read_text()
    assert "Traceback" not in log and "Uncaught app exception" not in log, app_server.log_tail()
