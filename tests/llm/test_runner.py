"""run_sync: synchronous code calls coroutines on the one background LLM loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from core.config import get_settings
from core.llm import LLMClient, get_llm_client, run_sync
from core.llm.runner import THREAD_NAME
from tests.llm.helpers import TEST_KEY


async def where_am_i() -> str:
    await asyncio.sleep(0)
    return threading.current_thread().name


def test_run_sync_runs_on_one_long_lived_background_loop():
    async def running_loop():
        return asyncio.get_running_loop()

    assert run_sync(where_am_i()) == THREAD_NAME
    assert run_sync(running_loop()) is run_sync(running_loop())
    assert sum(thread.name == THREAD_NAME for thread in threading.enumerate()) == 1


def test_run_sync_raises_what_the_coroutine_raised():
    async def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_sync(fails())


def test_run_sync_times_out_and_cancels():
    cancelled = threading.Event()

    async def forever():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        run_sync(forever(), timeout=0.05)
    assert cancelled.wait(2)


def test_run_sync_from_the_loop_itself_is_refused():
    async def nested():
        return run_sync(where_am_i())

    with pytest.raises(RuntimeError, match="on the LLM loop itself"):
        run_sync(nested())


def test_a_client_serves_many_synchronous_callers_through_the_runner(settings, openai_server):
    client = LLMClient(settings, base_url=openai_server.base_url, api_key=TEST_KEY)
    try:
        replies = []

        def caller() -> None:
            replies.append(run_sync(client.generate_completion(user_prompt="hi")))

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        run_sync(client.aclose())

    assert [reply.content for reply in replies] == ["ok"] * 4
    assert openai_server.connections <= client.max_concurrency


@pytest.fixture
def temp_settings(monkeypatch, db_path):
    monkeypatch.setenv("DEALCAST_DB", db_path)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_get_llm_client_is_one_instance_per_settings(temp_settings):
    client = get_llm_client()

    assert get_llm_client() is client
    assert client.store is not None and client.store.database == temp_settings.db
    assert client.enabled is False  # the test environment has no key


def test_the_process_wide_client_can_be_awaited_from_any_event_loop(openai_server, monkeypatch):
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("DEALCAST_LLM_API_KEY", "test-key")
    monkeypatch.setenv("DEALCAST_DB", ":memory:")
    get_settings.cache_clear()
    try:
        client = get_llm_client()

        async def from_a_users_loop():
            reply = await client.generate_completion(user_prompt="hi")
            chunks = [text async for text in client.stream_completion(user_prompt="hi", use_cache=False)]
            return reply.content, "".join(chunks)

        assert asyncio.run(from_a_users_loop()) == ("ok", "ok")
        assert run_sync(client.generate_completion(user_prompt="again")).content == "ok"  # still usable
        assert client.get_metrics()["request_count"] == 3
    finally:
        get_settings.cache_clear()
