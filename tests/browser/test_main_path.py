"""The main path in a real browser, as a newcomer walks it on a fresh server.

Open the app, load the bundled sample on Upload, open Forecast, move the horizon slider
with the keyboard and see the chart gain periods, drill into the first period and see the
deal table follow it, download that period's CSV, and keep a screenshot for the record.

Streamlit redraws the page on every rerun and keeps the previous run's elements on screen
until the run ends (an element whose position moved exists twice meanwhile), so each step
waits for a sign of its own rerun (a changed chart, a new caption) and then for the run to
finish before reading or clicking anything.
"""

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, AppServer
from tests.browser.steps import choose, open_page, settled

pytestmark = pytest.mark.browser

CHART = ".st-key-forecast_chart .js-plotly-plot"
#: The period labels on the chart's x axis, read from Plotly's own data in the page.
CHART_PERIODS = f"""() => {{
    const chart = document.querySelector('{CHART}');
    return chart && chart.data && chart.data.length ? Array.from(chart.data[0].x) : null;
}}"""
SHOWING = re.compile(r"Showing ([\d,]+) deals")


def chart_periods(page: Page, other_than: list[str] | None = None) -> list[str]:
    """The chart's periods once it is drawn (and, if given, once they differ from ``other_than``)."""
    periods = page.wait_for_function(
        f"(previous) => {{ const now = ({CHART_PERIODS})(); "
        "return now && JSON.stringify(now) !== JSON.stringify(previous) ? now : null; }",
        arg=other_than,
    ).json_value()
    settled(page)
    return periods


def deals_shown(page: Page, text: str) -> int:
    """The deal count in the table's caption once it reads ``text``; the table has that many rows."""
    caption = page.get_by_text(SHOWING)
    caption.filter(has_text=text).first.wait_for()  # until the run ends, a stale copy may linger
    settled(page)
    expect(caption).to_contain_text(text)
    count = int(SHOWING.search(caption.inner_text()).group(1).replace(",", ""))
    # The deal table, found by its first column; its grid mirrors the rows for assistive technology.
    table = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text=re.compile(r"^Deal$")))
    expect(table.locator("table[role=grid]")).to_have_attribute("aria-rowcount", str(count + 1))  # + header
    return count


def save_screenshot(page: Page, name: str) -> None:
    """The whole page, top to bottom: Streamlit scrolls inside its main area, so grow the window to fit."""
    height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def test_main_path_from_sample_data_to_csv_download(page: Page, app_server: AppServer):
    # A deep link is the first request the fresh server sees: app.py's navigation (in
    # sections) must still be drawn, not a list of the views/ files.
    page.goto(f"{app_server.url.rstrip('/')}/upload")
    expect(page.get_by_test_id("stNavSectionHeader").filter(has_text="Data")).to_be_visible()
    open_page(page, "upload", "Upload")
    settled(page)
    page.get_by_role("button", name="Load sample data").click()
    loaded = re.compile(r"Loaded \d+ sample snapshots")
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text=loaded).first).to_be_visible()
    settled(page)

    open_page(page, "forecast", "Forecast")
    periods = chart_periods(page)
    all_deals = deals_shown(page, "in the chart")

    horizon = page.locator(".st-key-horizon input[type=range]")
    expect(horizon).to_have_value("90")
    horizon.focus()
    horizon.press("End")
    longer = chart_periods(page, other_than=periods)
    expect(horizon).to_have_value("365")
    assert len(longer) > len(periods), (periods, longer)
    assert longer[: len(periods)] == periods, "a longer horizon keeps the earlier periods"
    deals_in_chart = deals_shown(page, "in the chart")
    assert deals_in_chart >= all_deals

    first = longer[0]
    choose(page, "period", first)
    in_period = deals_shown(page, f"invoiced or paying in {first}")
    assert 0 < in_period < deals_in_chart

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV", exact=True).click()
    assert download.value.suggested_filename.endswith(f"-{first}.csv")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Deal", "Title"], header
    assert "Reasoning" in header
    assert len(body) == in_period
    assert all(row[0] for row in body), "every row names its deal"

    expect(page.get_by_test_id("stException")).to_have_count(0)
    save_screenshot(page, "forecast-drill-down.png")
