"""What a finance user reads at 1024x768: whole tile values and a stage timeline in days.

A tile's value is cut when its text is wider than its box (Streamlit would end it in "…");
the value must be the compact money form, with the exact figure left to the tile's help.
On Forecast and Deal, every tile's label is whole and a money or count value is on one line
("SAR 18.6M" broke in two and "Expected invoi…" was cut with five tiles in a row).
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AppServer
from tests.browser.steps import settled

pytestmark = pytest.mark.browser

COMPACT_MONEY = re.compile(r"^-?SAR \d+(\.\d+)?[KMB]?$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Each tile value's text, and whether it is wider than its box.
TILE_VALUES = """() => Array.from(document.querySelectorAll('[data-testid="stMetricValue"] > div'))
    .map(e => [e.innerText.trim(), e.scrollWidth > e.clientWidth])"""


#: Each tile's label, whether the label is cut, and the value's height in font sizes (one line ~1.3).
TILE_FIT = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => {
    const value = m.querySelector('[data-testid="stMetricValue"] > div');
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    const cut = [label, ...label.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1);
    const size = parseFloat(getComputedStyle(value).fontSize);
    return [label.innerText.trim(), cut, value.getBoundingClientRect().height / size];
})"""


def tiles(page: Page) -> dict[str, bool]:
    settled(page)
    return dict(page.evaluate(TILE_VALUES))


def test_tiles_are_whole_and_the_timeline_is_in_days_at_1024(page: Page, app_server: AppServer):
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{app_server.url.rstrip('/')}/upload")
    settled(page)
    page.get_by_role("button", name="Load sample data").click()
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_count(8)
    overview = tiles(page)
    money = [text for text in overview if text.startswith(("SAR", "-SAR"))]
    assert len(money) == 6, overview
    assert all(COMPACT_MONEY.match(text) for text in money), money
    assert not any(overview.values()), f"cut tile values: {overview}"

    page.get_by_test_id("stSidebarNav").get_by_text("Deal", exact=True).click()
    expect(page.get_by_role("heading", name="Deal", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_count(4)
    deal = tiles(page)
    assert not any(deal.values()), f"cut tile values: {deal}"
    fit = {label: (cut, height) for label, cut, height in page.evaluate(TILE_FIT)}
    assert not any(cut for cut, _ in fit.values()), f"cut tile labels: {fit}"
    assert fit["Value"][1] < 2 and fit["Days in stage"][1] < 2, fit  # "SAR 161K" took two lines
    ticks = page.locator(".st-key-deal_timeline .xtick text")
    expect(ticks.first).to_be_visible()
    labels = ticks.all_text_contents()
    assert labels and all(DAY.match(label) for label in labels), labels
    expect(page.get_by_test_id("stException")).to_have_count(0)

    page.get_by_test_id("stSidebarNav").get_by_text("Forecast", exact=True).click()
    expect(page.get_by_role("heading", name="Forecast", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stMetricValue")).to_have_count(8)
    settled(page)
    fit = page.evaluate(TILE_FIT)
    assert not [label for label, cut, _ in fit if cut], f"cut tile labels: {fit}"
    assert all(height < 2 for _, _, height in fit), f"tile values over two lines: {fit}"
