"""The app shell: every page opens without an exception, with data and without."""

import pytest

PAGES = (
    "overview", "forecast", "receivables", "deal", "backtest", "upload", "settings", "writer", "prompts",
    "llm_usage",
)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_the_sample(sample_store, open_page, page):
    at = open_page(page)
    assert at.title, f"{page} shows no title"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_an_empty_database(empty_store, open_page, page):
    at = open_page(page)
    assert not at.error, [e.value for e in at.error]


def test_sidebar_shows_the_newest_snapshot_and_llm_off(sample_store, open_page):
    at = open_page("upload")
    newest = sample_store.list_snapshots()[-1]
    picker = at.sidebar.selectbox(key="snapshot_id")
    assert picker.value == newest.id
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert str(newest.as_of) in captions
    assert "LLM off" in captions


def test_sidebar_masks_a_password_in_the_llm_base_url(empty_store, open_page, openai_server, monkeypatch):
    from core.config import get_settings

    password = "hunter2-secret"
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url.replace("http://", f"http://bob:{password}@"))
    get_settings.cache_clear()
    at = open_page("upload")
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "LLM on" in captions and "bob:***@127.0.0.1" in captions
    assert password not in captions
