"""The response cache: a repeated question costs no request, until it expires or is bypassed."""

from __future__ import annotations

import contextlib
import logging

import duckdb
import pytest

from core.llm import LLMStatusError, RetryPolicy
from core.llm.cache import ResponseCache, cache_size
from tests.llm.helpers import ask, run
from tests.support.openai_server import Reply


def test_second_identical_call_is_a_cache_hit_without_a_request(make_client, openai_server, store):
    openai_server.script(Reply.text("expensive answer"))
    client = make_client(store=store)

    async def twice(c):
        first = await c.generate_completion(user_prompt="same", prompt_id="deal.summarize")
        second = await c.generate_completion(user_prompt="same", prompt_id="deal.summarize")
        return first, second

    first, second = run(client, twice)

    assert len(openai_server.requests) == 1
    assert second.content == first.content == "expensive answer"
    assert (second.cache_hit, second.attempts, second.usage.total_tokens) == (True, 0, 0)
    assert second.request_id == first.request_id
    metrics = client.get_metrics()
    assert (metrics["request_count"], metrics["cache_hits"], metrics["total_tokens"]) == (2, 1, 15)
    rows = store.query_df("SELECT cache_hit, attempts, total_tokens FROM llm_calls ORDER BY ts")
    assert rows.values.tolist() == [[False, 1, 15], [True, 0, 0]]


def test_a_cache_the_store_cannot_read_is_a_miss_and_says_so(
    make_client, openai_server, store, monkeypatch, caplog
):
    """Two sessions marking the same cached reply used at once meet DuckDB's write conflict:
    the call asks the server instead of failing."""
    ask(make_client(store=store), user_prompt="same")

    def conflicting(self, key):
        raise duckdb.TransactionException("Conflict on tuple deletion")

    monkeypatch.setattr(ResponseCache, "get", conflicting)
    with caplog.at_level(logging.WARNING, logger="core.llm"):
        response = ask(make_client(store=store), user_prompt="same")

    assert not response.cache_hit
    assert len(openai_server.requests) == 2
    assert "LLM cache read skipped: the store failed | error=TransactionException" in caplog.text


def test_cache_survives_a_new_client_on_the_same_store(make_client, openai_server, store):
    ask(make_client(store=store), user_prompt="same")
    response = ask(make_client(store=store), user_prompt="same")

    assert response.cache_hit
    assert len(openai_server.requests) == 1


def test_different_parameters_are_different_cache_entries(make_client, openai_server, store):
    client = make_client(store=store)

    async def variants(c):
        await c.generate_completion(user_prompt="same", temperature=0.1)
        await c.generate_completion(user_prompt="same", temperature=0.9)
        await c.generate_completion(user_prompt="same", tier="advanced", temperature=0.1)

    run(client, variants)

    assert len(openai_server.requests) == 3
    assert cache_size(store)["rows"] == 3


def test_use_cache_false_always_asks_the_server(make_client, openai_server, store):
    client = make_client(store=store)

    async def twice(c):
        await c.generate_completion(user_prompt="same")
        return await c.generate_completion(user_prompt="same", use_cache=False)

    assert run(client, twice).cache_hit is False
    assert len(openai_server.requests) == 2


def test_cached_reply_expires_after_its_ttl(make_client, openai_server, store, clock):
    ask(make_client(store=store, cache_ttl=60), user_prompt="same")
    clock.advance(59)
    assert ask(make_client(store=store, cache_ttl=60), user_prompt="same").cache_hit

    clock.advance(2)
    fresh = ask(make_client(store=store, cache_ttl=60), user_prompt="same")

    assert fresh.cache_hit is False
    assert len(openai_server.requests) == 2
    assert cache_size(store, clock=clock) == {"rows": 1, "live_rows": 1}


def test_failed_calls_are_not_cached(make_client, openai_server, store):
    openai_server.script(Reply.error(400, "bad"))
    client = make_client(store=store, retry=RetryPolicy(max_retries=0))

    async def twice(c):
        with contextlib.suppress(LLMStatusError):
            await c.generate_completion(user_prompt="same")
        return await c.generate_completion(user_prompt="same")

    assert run(client, twice).cache_hit is False
    assert len(openai_server.requests) == 2


def test_no_store_means_no_cache(make_client, openai_server):
    client = make_client()

    async def twice(c):
        await c.generate_completion(user_prompt="same")
        return await c.generate_completion(user_prompt="same")

    assert run(client, twice).cache_hit is False
    assert len(openai_server.requests) == 2


def test_cache_keeps_at_most_max_rows_and_evicts_the_least_recently_used(
    make_client, openai_server, store, clock
):
    client = make_client(store=store, cache_max_rows=2)

    async def questions(c):
        for prompt in ("a", "b"):
            await c.generate_completion(user_prompt=prompt)
            clock.advance(1)
        await c.generate_completion(user_prompt="a")  # a hit: "a" is now the most recently used
        clock.advance(1)
        await c.generate_completion(user_prompt="c")  # the third row pushes out "b", not "a"
        clock.advance(1)
        return [(await c.generate_completion(user_prompt=p)).cache_hit for p in ("a", "c", "b")]

    assert run(client, questions) == [True, True, False]
    assert len(openai_server.requests) == 4  # a, b, c, and b again
    assert cache_size(store, clock=clock)["rows"] == 2


def test_cache_purges_expired_rows_when_it_writes(make_client, openai_server, store, clock):
    ask(make_client(store=store, cache_ttl=60), user_prompt="old")
    clock.advance(61)
    assert cache_size(store, clock=clock) == {"rows": 1, "live_rows": 0}

    ask(make_client(store=store, cache_ttl=60), user_prompt="new")

    assert cache_size(store, clock=clock) == {"rows": 1, "live_rows": 1}
    assert store.query_df("SELECT count(*) AS n FROM llm_cache WHERE model IS NULL")["n"].iloc[0] == 0


def test_cache_max_rows_below_one_is_refused(make_client, store):
    with pytest.raises(ValueError, match="DEALCAST_LLM_CACHE_MAX_ROWS must be at least 1"):
        make_client(store=store, cache_max_rows=0)
