"""Streaming: text deltas from server-sent events, usage when sent, errors raised not swallowed."""

from __future__ import annotations

import contextlib
import json

import pytest
from opentelemetry.trace import StatusCode

from core.llm import LLMAuthError, LLMConnectionError, LLMStatusError, RetryPolicy
from tests.llm.helpers import collect_stream, run
from tests.support.openai_server import Reply
from tests.support.tracing import spans_in_memory


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


@pytest.fixture
def spans():
    """Spans into memory (with httpx instrumented), undone afterwards."""
    with spans_in_memory() as exporter:
        yield exporter


def test_a_stream_gets_an_llm_call_span_with_ids_and_tokens_but_no_text(make_client, openai_server, spans):
    openai_server.script(Reply.text("Secret plan for Tuesday", chunk_size=6))
    client = make_client(api_key="sk-stream-span-key")
    chunks: list[str] = []

    collect_stream(client, chunks, user_prompt="the prompt text", prompt_id="notes.summarize",
                   prompt_version=3)

    finished = spans.get_finished_spans()
    (llm,) = [span for span in finished if span.name == "llm.call"]
    assert llm.attributes["llm.model"] == client.models["balanced"]
    assert (llm.attributes["llm.prompt_id"], llm.attributes["llm.prompt_version"]) == ("notes.summarize", "3")
    assert (llm.attributes["llm.prompt_tokens"], llm.attributes["llm.completion_tokens"]) == (10, 5)
    assert llm.attributes["llm.total_tokens"] == 15 and llm.attributes["llm.status"] == "success"
    http_spans = [span for span in finished if span is not llm]
    assert http_spans and all(span.parent.span_id == llm.context.span_id for span in http_spans)
    text = json.dumps([json.loads(span.to_json()) for span in finished])
    for secret in ("Secret plan", "the prompt text", "sk-stream-span-key"):
        assert secret not in text


def test_a_failed_stream_ends_its_span_with_an_error(make_client, openai_server, spans):
    openai_server.script(Reply.error(500))
    with pytest.raises(LLMStatusError):
        collect_stream(make_client(retry=RetryPolicy(max_retries=0)), [])

    (llm,) = [span for span in spans.get_finished_spans() if span.name == "llm.call"]
    assert llm.status.status_code is StatusCode.ERROR
    assert llm.attributes["llm.status"] != "success"


def test_a_stream_closed_early_ends_its_span(make_client, openai_server, spans):
    openai_server.script(Reply.text("one two three four", chunk_size=4))
    client = make_client()

    async def first_chunk(c) -> str:
        async with contextlib.aclosing(c.stream_completion(user_prompt="hi", use_cache=False)) as stream:
            return await anext(stream)

    assert run(client, first_chunk) == "one "
    assert [span.name for span in spans.get_finished_spans()].count("llm.call") == 1
