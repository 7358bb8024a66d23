"""Login for real: the dashboard signs people in through an OpenID Connect provider.

The provider is tests/support/oidc_provider.py on loopback (discovery document, authorize,
token and JWKS endpoints, RS256-signed ID token, end-session endpoint); the dashboard is
configured for it the way a deployment is, through ``[auth]`` in a secrets file, with an
allow-list. An allowed user signs in, sees the pages and who is signed in, uploads a
snapshot that records their email, deletes it (logged with their email) and logs out; a
user not on the list is refused and can log out.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from core.formatting import WORD_JOINER
from tests.browser.conftest import ARTIFACTS, AppServer
from tests.browser.steps import open_page, settled, upload
from tests.support.oidc_provider import OIDCProvider

pytestmark = pytest.mark.browser

ALLOWED = "ana@finance.example"
REFUSED = "eve@elsewhere.example"
EXPORT = b"Deal ID,Title,Stage,Value,Status\n1,Fit-out,Proposal,1000,open\n2,Roof,Won,500,won\n"


@pytest.fixture
def app_env(tmp_path, app_port, oidc_provider: OIDCProvider) -> dict[str, str]:
    """Login on: ``[auth]`` for the test provider in a secrets file, and an allow-list."""
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{oidc_provider.client_id}"\n'
        f'client_secret = "{oidc_provider.client_secret}"\n'
        f'server_metadata_url = "{oidc_provider.metadata_url}"\n'
    )
    return {"STREAMLIT_SECRETS_FILES": str(secrets_file), "DEALCAST_ALLOWED_EMAILS": ALLOWED,
            "DEALCAST_ALLOWED_DOMAINS": "treasury.example"}


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def sign_in_page(page: Page) -> None:
    """The dashboard's sign-in page: a button and no page of data."""
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    settled(page)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


def sign_in(page: Page, email: str, shot: str | None = None) -> None:
    """Press Sign in, type ``email`` on the provider's own page, and come back."""
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/authorize\?"))
    page.get_by_label("Email").fill(email)
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Sign in").click()


def log_events(server: AppServer, event: str) -> list[dict]:
    events = []
    for line in server.log.read_text().splitlines():
        if line.startswith("{") and f'"event": "{event}"' in line:
            events.append(json.loads(line))
    return events


def test_allowed_user_signs_in_uploads_deletes_and_logs_out_refused_user_does_not_get_in(
        page: Page, app_server: AppServer, oidc_provider: OIDCProvider):
    page.goto(app_server.url)
    sign_in_page(page)
    screenshot(page, "login-1-sign-in.png")

    sign_in(page, ALLOWED, shot="login-2-provider.png")
    sidebar = page.get_by_test_id("stSidebar")
    # Escaped text carries an invisible word joiner before "@", so it forms no mailto link.
    expect(sidebar).to_contain_text(f"Signed in as {ALLOWED.replace('@', WORD_JOINER + '@')}")
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    assert {"GET /authorize", "POST /authorize", "POST /token", "GET /jwks"} <= set(oidc_provider.requests)

    open_page(page, "upload", "Upload")
    upload(page, "pipeline.csv", EXPORT)
    page.get_by_role("button", name="Save snapshot").click()
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="2 deals loaded")).to_be_visible()
    settled(page)
    snapshots = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="uploaded by"))
    expect(snapshots.locator("table[role=grid]")).to_contain_text(ALLOWED)
    screenshot(page, "login-3-signed-in-upload.png")

    page.get_by_text("Yes, delete snapshot 1").click()
    page.get_by_role("button", name="Delete snapshot").click()
    expect(page.get_by_text("None yet.")).to_be_visible()
    (deleted,) = log_events(app_server, "snapshot_deleted")
    assert (deleted["snapshot_id"], deleted["uploaded_by"], deleted["deleted_by"]) == (1, ALLOWED, ALLOWED)

    sidebar.get_by_role("button", name="Log out").click()
    sign_in_page(page)
    assert "GET /logout" in oidc_provider.requests  # the provider's end-session endpoint
    page.goto(f"{app_server.url}/upload")  # a deep link after logging out: still the sign-in page
    sign_in_page(page)

    sign_in(page, REFUSED)
    refusal = page.get_by_test_id("stAlertContentError")
    expect(refusal).to_contain_text("Access refused")
    expect(refusal).to_contain_text("not on this dashboard's allow-list")
    settled(page)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_role("heading", name="Upload")).to_have_count(0)
    screenshot(page, "login-4-refused.png")
    page.get_by_role("button", name="Log out").click()
    sign_in_page(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
