"""What a security review found, in a real browser: the server listens on loopback only, and
untrusted text (a deal's title and notes, a file's column names, streamed LLM text) is shown
as text, so Markdown in it forms no image or link and the browser fetches nothing.

Every piece of untrusted text holds ``![x](http://127.0.0.1:PORT/p.png?leak=1)`` pointing at a
small server the test runs on loopback, which counts the requests it gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from core.formatting import WORD_JOINER
from tests.browser.conftest import AppServer
from tests.browser.steps import open_page, settled, upload
from tests.support.openai_server import Reply
from tests.writer.helpers import ANSWERS

pytestmark = pytest.mark.browser

#: TCP states in /proc/net/tcp: 0A is LISTEN.
LISTEN = "0A"


class _Counter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def leak_server() -> Iterator[ThreadingHTTPServer]:
    """A loopback server that records every request; none should ever reach it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def image(leak_server) -> str:
    return f"![x](http://127.0.0.1:{leak_server.server_port}/p.png?leak=1)"


@pytest.fixture
def app_env(openai_server, image) -> dict[str, str]:
    """The dashboard's LLM is the loopback chat server, whose deal summary holds the image."""
    answer = dict(ANSWERS["deal.summarize"], summary=f"Call the client. {image} Then invoice.")
    openai_server.responder = lambda body: Reply.json(answer, chunk_size=5)
    return {"DEALCAST_LLM_BASE_URL": openai_server.base_url, "DEALCAST_LLM_API_KEY": "test-key"}


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as the kernel writes them) of the sockets listening on ``port``."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_dashboard_listens_on_loopback_only(app_server: AppServer):
    port = int(app_server.url.rsplit(":", 1)[1])

    # 127.0.0.1 in the kernel's little-endian hex; 0.0.0.0 or :: would be every interface.
    assert listening_addresses(port) == {"0100007F"}


def shown(locator: Locator) -> str:
    """The text a reader sees (escaped text carries invisible word joiners that stop autolinks)."""
    locator.first.wait_for()
    return "\n".join(locator.all_inner_texts()).replace(WORD_JOINER, "")


def no_image_or_link(page: Page, leak_server: ThreadingHTTPServer, fetched: list[str]) -> None:
    main = page.get_by_test_id("stMain")
    expect(main.locator("img[src*='leak']")).to_have_count(0)
    # A heading's own anchor (href="#...") repeats its text; any other link would lead out.
    expect(main.locator("a[href*='leak']:not([href^='#'])")).to_have_count(0)
    assert fetched == [] and leak_server.paths == []


def test_untrusted_text_shows_as_text_and_fetches_nothing(
        page: Page, app_server: AppServer, leak_server, image: str, openai_server):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "leak" in request.url else None)
    page.goto(app_server.url)
    open_page(page, "upload", "Upload")

    # A file whose only columns are untrusted text: the error quotes them.
    upload(page, "columns.csv", f"{image},foo\n1,2\n".encode())
    assert f"Columns found: {image}, foo." in shown(page.get_by_test_id("stAlertContentError"))
    no_image_or_link(page, leak_server, fetched)

    export = (f'Deal ID,Title,Stage,Value,Status,Notes,Organization\n'
              f'1,"{image}",Proposal,1000,open,"{image}",Acme\n2,Plain,Won,500,won,,Beta\n')
    upload(page, "deals.csv", export.encode())
    page.get_by_role("button", name="Save snapshot").click()
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="2 deals loaded")).to_be_visible()
    settled(page)

    page.goto(f"{app_server.url}/deal?deal=1")
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    settled(page)
    expect(page.get_by_role("combobox", name="Deal")).to_have_value(f"1 — {image}")
    no_image_or_link(page, leak_server, fetched)

    open_page(page, "writer", "Writer")
    page.locator(".st-key-deals input").click()
    page.get_by_role("option").filter(has_text="Acme").click()
    page.keyboard.press("Escape")
    settled(page)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("textbox", name="Result (editable)")).to_be_visible()
    assert image in shown(page.get_by_test_id("stHeading")).splitlines()  # the deal's title, as typed
    expect(page.get_by_role("textbox", name="Result (editable)")).to_have_value(
        f"Call the client. {image} Then invoice.")
    settled(page)
    assert [request.body.get("stream") for request in openai_server.requests] == [True]
    no_image_or_link(page, leak_server, fetched)
    expect(page.get_by_test_id("stException")).to_have_count(0)
