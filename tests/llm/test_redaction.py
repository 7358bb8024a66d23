"""The API key never appears in logs, errors, reprs, the database or the command line's output."""

from __future__ import annotations

import json
import logging

import pytest

from core.cli import main
from core.config import Settings, get_settings
from core.llm import LLMAuthError, LLMClient, LLMStatusError, RetryPolicy
from core.store import Store
from tests.llm.helpers import TEST_KEY, ask, run
from tests.support.openai_server import Reply


def everything_in(store: Store) -> str:
    """Every value of the LLM tables as text."""
    return json.dumps(
        [store.query_df(f"SELECT * FROM {table}").astype(str).values.tolist()
         for table in ("llm_calls", "llm_cache")]
    )


def test_key_echoed_by_the_server_is_redacted_from_errors_logs_and_the_database(
    make_client, openai_server, store, caplog
):
    caplog.set_level(logging.DEBUG)
    openai_server.script(
        Reply.error(401, f"Incorrect API key provided: {TEST_KEY}"),
        Reply.error(500, f"upstream said {TEST_KEY}", headers={"x-should-retry": "false"}),
        Reply.text("fine"),
    )
    client = make_client(store=store, retry=RetryPolicy(max_retries=0))
    errors = []

    async def calls(c):
        for prompt in ("one", "two"):
            try:
                await c.generate_completion(user_prompt=prompt)
            except (LLMAuthError, LLMStatusError) as exc:
                errors.append(exc)
        await c.generate_completion(user_prompt="three")

    run(client, calls)

    assert len(errors) == 2
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"  # it was sent
    for exc in errors:
        assert TEST_KEY not in str(exc) and TEST_KEY not in repr(exc)
        assert "[redacted]" in str(exc)
    assert "LLM request failed" in caplog.text and "LLM request prompt" in caplog.text
    assert TEST_KEY not in caplog.text
    assert TEST_KEY not in everything_in(store)
    assert TEST_KEY not in repr(client)
    assert TEST_KEY not in json.dumps(client.get_metrics())


def test_client_repr_masks_the_key(settings):
    client = LLMClient(settings, api_key=TEST_KEY)

    assert "api_key='***'" in repr(client)
    assert TEST_KEY not in repr(client)


def test_settings_repr_hides_the_key():
    assert TEST_KEY not in repr(Settings.from_env({"DEALCAST_LLM_API_KEY": TEST_KEY}))


@pytest.fixture
def keyed_env(monkeypatch, db_path):
    """Settings from an environment holding the test key, restored after the test."""
    monkeypatch.setenv("DEALCAST_LLM_API_KEY", TEST_KEY)
    monkeypatch.setenv("DEALCAST_DB", db_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("as_json", [False, True])
def test_llm_status_says_a_key_is_set_but_never_shows_it(keyed_env, db_path, capsys, as_json):
    status = main(["llm", "status", "--db", db_path, *(["--json"] if as_json else [])])

    out, err = capsys.readouterr()
    assert status == 0
    assert TEST_KEY not in out and TEST_KEY not in err
    if as_json:
        assert json.loads(out)["api_key_present"] is True
    else:
        assert "API key:   set" in out


def test_llm_ask_error_output_never_shows_the_key(keyed_env, monkeypatch, openai_server, db_path, capsys):
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("DEALCAST_LLM_MAX_RETRIES", "0")
    get_settings.cache_clear()
    openai_server.script(Reply.error(401, f"bad key {TEST_KEY}"))

    status = main(["llm", "ask", "hi", "--db", db_path])

    out, err = capsys.readouterr()
    assert status == 1
    assert "HTTP 401" in err
    assert TEST_KEY not in out + err
    with Store(db_path) as store:
        assert TEST_KEY not in everything_in(store)


def test_the_key_is_not_part_of_the_cache_key(make_client, openai_server, store):
    ask(make_client(store=store, api_key=TEST_KEY))

    assert ask(make_client(store=store, api_key="another-key")).cache_hit
    assert len(openai_server.requests) == 1
