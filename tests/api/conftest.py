"""A real uvicorn server on a loopback port over a temporary database, driven with httpx."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from core.api import create_app
from core.bootstrap import load_sample_invoices, sample_files
from core.config import get_settings
from core.ingest import ingest_file
from core.store import Store

#: A token no log, span or metric may ever show.
API_TOKEN = "tok-api-7f3c1e9b-do-not-log"
#: An LLM key no log, span or metric may ever show.
LLM_KEY = "sk-llm-2b8d4a61-do-not-log"


@dataclass
class Server:
    base_url: str
    db: str

    def client(self, token: str | None = API_TOKEN, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> str:
    """Two sample Pipedrive snapshots and the sample invoice list, loaded once."""
    path = str(tmp_path_factory.mktemp("api") / "template.duckdb")
    with Store(path) as store:
        for file in sample_files()[-2:]:
            ingest_file(store, file)
        load_sample_invoices(store)
    return path


def run_server(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start ``app`` on a free loopback port; returns the server, its thread and base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def api_env(monkeypatch, sample_db, tmp_path, openai_server):
    """Settings for one test: a copy of the sample database, API tokens, the local LLM server."""
    db = str(tmp_path / "api.duckdb")
    shutil.copyfile(sample_db, db)
    monkeypatch.setenv("DEALCAST_DB", db)
    monkeypatch.setenv("DEALCAST_API_TOKENS", f"other-token, {API_TOKEN}")
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("DEALCAST_LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("DEALCAST_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("DEALCAST_MAX_UPLOAD_MB", "1")
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


@pytest.fixture
def api(api_env) -> Iterator[Server]:
    """The API on a loopback port over ``api_env``'s database."""
    server, thread, base_url = run_server(create_app())
    yield Server(base_url, api_env)
    server.should_exit = True
    thread.join(10)
