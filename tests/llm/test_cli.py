"""``python -m core llm status | ask`` against the local server."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.config import get_settings
from tests.support.openai_server import Reply


@pytest.fixture
def local_llm(monkeypatch, openai_server, db_path):
    """Settings pointing at the local server (no key needed there) and a temporary database."""
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("DEALCAST_DB", db_path)
    get_settings.cache_clear()
    yield openai_server
    get_settings.cache_clear()


def test_llm_status_when_off_says_why(db_path, capsys, monkeypatch):
    for name in ("DEALCAST_LLM_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEALCAST_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        assert main(["llm", "status", "--db", db_path]) == 0
    finally:
        get_settings.cache_clear()

    out = capsys.readouterr().out
    assert "LLM:       off" in out
    assert "No API key is set and https://openrouter.ai/api/v1 requires one" in out
    assert "API key:   not set" in out
    assert "Circuit:   closed" in out
    assert "Cache:     0 replies" in out


def test_llm_ask_prints_the_reply_and_status_counts_the_call(local_llm, db_path, capsys):
    local_llm.script(Reply.text("Marhaba!"))

    assert main(["llm", "ask", "Say hello in Arabic", "--db", db_path]) == 0
    assert capsys.readouterr().out == "Marhaba!\n"
    assert main(["llm", "ask", "Say hello in Arabic", "--db", db_path]) == 0  # from the cache
    assert capsys.readouterr().out == "Marhaba!\n"
    assert main(["llm", "status", "--db", db_path, "--json"]) == 0

    status = json.loads(capsys.readouterr().out)
    assert len(local_llm.requests) == 1
    assert local_llm.requests[0].body["model"] == status["models"]["fast"]
    assert status["enabled"] is True and status["api_key_present"] is False
    assert (status["cache_rows"], status["calls"]["calls"], status["calls"]["cache_hits"]) == (1, 2, 1)
    assert status["calls"]["total_tokens"] == 15


def test_llm_ask_streams_and_prints_json(local_llm, db_path, capsys):
    local_llm.script(Reply.text("streamed text"), Reply.text("json text"))

    assert main(["llm", "ask", "one", "--stream", "--db", db_path]) == 0
    assert capsys.readouterr().out == "streamed text\n"
    assert main(["llm", "ask", "two", "--json", "--tier", "advanced", "--db", db_path]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["content"] == "json text" and reply["attempts"] == 1


def test_llm_ask_failure_exits_1_with_the_reason(local_llm, db_path, capsys, monkeypatch):
    local_llm.script(Reply.error(400, "model not found"))

    assert main(["llm", "ask", "hi", "--db", db_path]) == 1
    assert "HTTP 400" in capsys.readouterr().err


def test_llm_ask_stream_json_prints_a_json_line_per_piece_and_the_whole_reply(local_llm, db_path, capsys):
    local_llm.script(Reply.text("streamed text"))

    assert main(["llm", "ask", "one", "--stream", "--json", "--db", db_path]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1] == {"content": "streamed text", "done": True}
    assert "".join(line["delta"] for line in lines[:-1]) == "streamed text" and len(lines) > 1


def test_a_password_in_the_base_url_is_masked_in_status_and_errors(
    monkeypatch, openai_server, db_path, capsys
):
    password = "hunter2-secret"
    url = openai_server.base_url.replace("http://", f"http://bob:{password}@")
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["llm", "status", "--db", db_path]) == 0
        out = capsys.readouterr().out
        assert "bob:***@127.0.0.1" in out and password not in out
        openai_server.script(Reply.error(400, f"bad request for {url}"))
        assert main(["llm", "ask", "hi", "--db", db_path]) == 1
        err = capsys.readouterr().err
        assert "HTTP 400" in err and password not in err
        assert openai_server.requests, "the request was still sent with the real URL"
    finally:
        get_settings.cache_clear()
