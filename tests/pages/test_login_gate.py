"""The login gate in front of every page (app.py): open without [auth], closed with it.

Signing in through a provider, the allow-list and logging out are tested for real in
tests/browser/test_login.py; here AppTest checks what a visitor sees before signing in.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, RUN_TIMEOUT

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 32}
PROVIDER = {"client_id": "id", "client_secret": "secret",
            "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}


def test_without_auth_the_sidebar_says_the_app_is_open_to_anyone(sample_store, open_page):
    at = open_page("overview")

    captions = " ".join(caption.value for caption in at.sidebar.caption)
    assert "Open to anyone who can reach this server" in captions
    assert not at.sidebar.button


def test_with_auth_every_page_asks_to_sign_in_first(sample_store):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    at.secrets["auth"] = AUTH | PROVIDER

    at.run()

    assert [button.label for button in at.button] == ["Sign in"]
    assert [title.value for title in at.title] == ["Dealcast"]
    assert not at.sidebar.caption and not at.exception


def test_with_several_providers_there_is_one_button_each(sample_store):
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    at.secrets["auth"] = AUTH | {"google": PROVIDER, "microsoft": PROVIDER}

    at.run()

    assert [button.label for button in at.button] == ["Sign in with Google", "Sign in with Microsoft"]
