"""Streaming: text deltas from server-sent events, usage when sent, errors raised not swallowed."""

from __future__ import annotations

import pytest

from core.llm import LLMAuthError, LLMConnectionError, LLMStatusError, RetryPolicy
from tests.llm.helpers import collect_stream
from tests.support.openai_server import Reply


def test_stream_yields_the_text_in_pieces_and_asks_for_usage(make_client, openai_server):
    openai_server.script(Reply.text("Hello from the stream", chunk_size=5))
    client = make_client()
    chunks: list[str] = []

    collect_stream(client, chunks, prompt_id="notes.summarize")

    assert chunks == ["Hello", " from", " the ", "strea", "m"]
    (request,) = openai_server.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    metrics = client.get_metrics()
    assert (metrics["success_count"], metrics["total_tokens"]) == (1, 15)
    assert metrics["by_prompt"]["notes.summarize"]["request_count"] == 1


def test_stream_copes_with_the_usage_chunk_missing(make_client, openai_server):
    openai_server.script(Reply.text("no usage here", fault="no_usage"))
    client = make_client()
    chunks: list[str] = []

    collect_stream(client, chunks)

    assert "".join(chunks) == "no usage here"
    metrics = client.get_metrics()
    assert (metrics["success_count"], metrics["total_tokens"]) == (1, 0)


def test_truncated_stream_raises_after_the_text_it_got(make_client, openai_server):
    openai_server.script(Reply.text("abcdefghijkl", fault="truncate_stream"))
    client = make_client()
    chunks: list[str] = []

    with pytest.raises(LLMConnectionError, match="mid-reply"):
        collect_stream(client, chunks)

    assert chunks == ["abcd"]
    assert client.get_metrics()["failure_count"] == 1


def test_stream_without_done_marker_is_an_error(make_client, openai_server):
    openai_server.script(Reply.text("almost", fault="no_done"))
    chunks: list[str] = []

    with pytest.raises(LLMConnectionError, match=r"before \[DONE\]"):
        collect_stream(make_client(), chunks)

    assert "".join(chunks) == "almost"


def test_stream_raises_http_errors_before_yielding_anything(make_client, openai_server, sleep):
    openai_server.script(Reply.error(401, "bad key"))
    chunks: list[str] = []

    with pytest.raises(LLMAuthError):
        collect_stream(make_client(), chunks)

    assert chunks == []
    assert sleep.waits == []


def test_stream_retries_server_errors_before_the_first_chunk(make_client, openai_server, sleep):
    openai_server.script(Reply.error(503), Reply(fault="reset"), Reply.text("third time"))
    client = make_client()
    chunks: list[str] = []

    collect_stream(client, chunks)

    assert "".join(chunks) == "third time"
    assert sleep.waits == [0.5, 1.0]
    assert client.get_metrics()["retry_count"] == 2


def test_stream_gives_up_after_max_retries(make_client, openai_server):
    openai_server.script(Reply.error(500), Reply.error(500))
    chunks: list[str] = []

    with pytest.raises(LLMStatusError) as caught:
        collect_stream(make_client(retry=RetryPolicy(max_retries=1, jitter=0.0)), chunks)

    assert caught.value.status_code == 500
    assert caught.value.attempts == 2
    assert chunks == []


def test_a_cached_reply_streams_as_one_chunk_without_a_request(make_client, openai_server, store):
    openai_server.script(Reply.text("cache me", chunk_size=3))
    first: list[str] = []
    second: list[str] = []

    collect_stream(make_client(store=store), first, user_prompt="same")
    collect_stream(make_client(store=store), second, user_prompt="same")

    assert first == ["cac", "he ", "me"]
    assert second == ["cache me"]
    assert len(openai_server.requests) == 1
