"""Steps the browser tests share: wait for a run, follow a sidebar link, pick an option, upload.

Streamlit redraws the page on every rerun and keeps the previous run's elements on screen
until the run ends, so each step waits for its own sign and then for the run to finish.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def settled(page: Page) -> None:
    """Wait for the script run to finish (the attribute is Streamlit's own hook for its browser tests)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def open_page(page: Page, url_path: str, title: str) -> None:
    """Follow the sidebar's link to a page, as a user would, and wait until it is drawn."""
    page.get_by_test_id("stSidebarNav").locator(f'a[href$="/{url_path}"]').click()
    expect(page).to_have_url(re.compile(f"/{url_path}$"))
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def choose(page: Page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with widget key ``key``.

    Scrolled into view first: the dropdown closes itself when the page scrolls, which a
    click on an off-screen selectbox would do right after opening it.
    """
    selectbox = page.locator(f".st-key-{key} input[role=combobox]")
    selectbox.scroll_into_view_if_needed()
    selectbox.click()
    page.get_by_role("option", name=option, exact=True).click()


def upload(page: Page, name: str, data: bytes) -> None:
    """Drop a file on the Upload page's uploader and wait for its preview (or its error)."""
    page.locator(".st-key-upload input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    expect(page.locator(".st-key-upload")).to_contain_text(name)
    settled(page)
