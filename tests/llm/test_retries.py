"""Every fault the server can throw: attempts made, waits requested, error raised, metrics kept."""

from __future__ import annotations

import email.utils

import pytest

from core.llm import (
    LLMAuthError,
    LLMConnectionError,
    LLMRateLimitError,
    LLMStatusError,
    LLMTimeout,
    LLMTimeoutError,
    LLMValidationError,
    RetryPolicy,
)
from tests.llm.helpers import EPOCH, TEST_KEY, ask
from tests.support.openai_server import Reply

BACKOFF = [0.5, 1.0, 2.0]  # the default backoff without jitter, for 3 retries


def test_client_posts_to_chat_completions_with_bearer_key(make_client, openai_server):
    openai_server.script(Reply.text("hello", usage={
        "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 8},
    }))
    client = make_client()

    response = ask(client, system_prompt="be brief", user_prompt="hi", tier="fast", temperature=0.2)

    (request,) = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body == {
        "model": client.models["fast"],
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "temperature": 0.2,
    }
    assert response.content == "hello"
    assert response.attempts == 1
    assert response.request_id == "chatcmpl-test-1"
    assert response.cache_hit is False
    usage = response.usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.total_tokens) == (12, 8, 15)


def test_client_without_key_sends_no_authorization_to_a_local_server(make_client, openai_server):
    client = make_client(api_key="")

    assert client.enabled
    assert ask(client).content == "ok"
    assert "authorization" not in openai_server.requests[0].headers


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": email.utils.formatdate(EPOCH + 30, usegmt=True)}, 30.0),
        ({"Retry-After": "600"}, 120.0),  # capped
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # the millisecond header wins
    ],
    ids=["seconds", "milliseconds", "http-date", "capped-at-120", "ms-wins"],
)
def test_client_waits_as_long_as_a_429_asks_then_succeeds(make_client, openai_server, sleep, headers, wait):
    openai_server.script(Reply.error(429, "slow down", headers=headers), Reply.text("done"))
    client = make_client()

    response = ask(client)

    assert response.content == "done"
    assert response.attempts == 2
    assert sleep.waits == [wait]
    metrics = client.get_metrics()
    assert (metrics["request_count"], metrics["success_count"], metrics["retry_count"]) == (1, 1, 1)


def test_client_raises_rate_limit_error_when_429_outlasts_every_retry(make_client, openai_server, sleep):
    openai_server.script(*[Reply.error(429, "quota")] * 4)
    client = make_client()

    with pytest.raises(LLMRateLimitError) as caught:
        ask(client)

    assert caught.value.status_code == 429
    assert caught.value.attempts == 4
    assert len(openai_server.requests) == 4
    assert sleep.waits == BACKOFF
    metrics = client.get_metrics()
    assert (metrics["failure_count"], metrics["retry_count"], metrics["attempt_count"]) == (1, 3, 4)
    assert metrics["errors_by_type"] == {"LLMRateLimitError": 1}


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
def test_client_retries_server_errors_then_succeeds(make_client, openai_server, sleep, status):
    openai_server.script(Reply.error(status), Reply.error(status), Reply.text("recovered"))
    client = make_client()

    response = ask(client)

    assert response.content == "recovered"
    assert response.attempts == 3
    assert sleep.waits == BACKOFF[:2]
    assert client.get_metrics()["retry_count"] == 2


def test_client_gives_up_on_server_errors_after_max_retries(make_client, openai_server, sleep):
    openai_server.script(*[Reply.error(502, "bad gateway")] * 3)
    client = make_client(retry=RetryPolicy(max_retries=2, jitter=0.0))

    with pytest.raises(LLMStatusError) as caught:
        ask(client)

    assert caught.value.status_code == 502
    assert "bad gateway" in str(caught.value)
    assert caught.value.attempts == 3
    assert sleep.waits == BACKOFF[:2]
    assert client.get_metrics()["failure_count"] == 1


@pytest.mark.parametrize("status", [401, 403])
def test_client_raises_auth_error_at_once_on_401_and_403(make_client, openai_server, sleep, status):
    openai_server.script(Reply.error(status, "Incorrect API key provided"))
    client = make_client()

    with pytest.raises(LLMAuthError) as caught:
        ask(client)

    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "DEALCAST_LLM_API_KEY" in message
    assert caught.value.attempts == 1
    assert sleep.waits == []
    assert len(openai_server.requests) == 1


def test_auth_error_without_key_says_none_was_sent(make_client, openai_server):
    openai_server.script(Reply.error(401, "missing key"))

    with pytest.raises(LLMAuthError, match="no API key was sent"):
        ask(make_client(api_key=""))


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_never_retries_other_client_errors(make_client, openai_server, sleep, status):
    openai_server.script(Reply.error(status, "bad request"))
    client = make_client()

    with pytest.raises(LLMStatusError) as caught:
        ask(client)

    assert type(caught.value) is LLMStatusError
    assert caught.value.status_code == status
    assert (caught.value.attempts, sleep.waits) == (1, [])


def test_client_obeys_x_should_retry_false_on_a_503(make_client, openai_server, sleep):
    openai_server.script(Reply.error(503, headers={"x-should-retry": "false"}))

    with pytest.raises(LLMStatusError) as caught:
        ask(make_client())

    assert (caught.value.attempts, sleep.waits) == (1, [])


def test_client_obeys_x_should_retry_true_on_a_400(make_client, openai_server, sleep):
    openai_server.script(Reply.error(400, headers={"x-should-retry": "true"}), Reply.text("fine"))

    assert ask(make_client()).attempts == 2
    assert sleep.waits == [0.5]


def test_client_times_out_slow_replies_and_retries(make_client, openai_server, sleep):
    openai_server.script(Reply(delay=2.0), Reply(delay=2.0))
    client = make_client(timeout=LLMTimeout(0.2, connect=0.2), retry=RetryPolicy(max_retries=1, jitter=0.0))

    with pytest.raises(LLMTimeoutError) as caught:
        ask(client)

    assert caught.value.attempts == 2
    assert sleep.waits == [0.5]
    assert len(openai_server.requests) == 2
    assert client.get_metrics()["errors_by_type"] == {"LLMTimeoutError": 1}


def test_client_recovers_from_a_slow_reply_on_retry(make_client, openai_server, sleep):
    openai_server.script(Reply(delay=2.0), Reply.text("quick"))
    client = make_client(timeout=LLMTimeout(0.2, connect=0.2))

    response = ask(client)

    assert (response.content, response.attempts, sleep.waits) == ("quick", 2, [0.5])


def test_client_retries_after_a_connection_reset(make_client, openai_server, sleep):
    openai_server.script(Reply(fault="reset"), Reply.text("back"))

    response = ask(make_client())

    assert (response.content, response.attempts, sleep.waits) == ("back", 2, [0.5])


def test_client_raises_connection_error_when_the_server_hangs_up_mid_body(make_client, openai_server, sleep):
    openai_server.script(Reply(fault="close_mid_body"), Reply(fault="close_mid_body"))
    client = make_client(retry=RetryPolicy(max_retries=1, jitter=0.0))

    with pytest.raises(LLMConnectionError, match="closed the connection mid-reply") as caught:
        ask(client)

    assert caught.value.attempts == 2
    assert sleep.waits == [0.5]
    assert client.get_metrics()["failure_count"] == 1


def test_client_raises_connection_error_when_nothing_listens(make_client, sleep):
    client = make_client(base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_retries=2, jitter=0.0))

    with pytest.raises(LLMConnectionError, match="could not connect") as caught:
        ask(client)

    assert caught.value.attempts == 3
    assert sleep.waits == BACKOFF[:2]
    assert isinstance(caught.value.__cause__, Exception)


def test_client_rejects_a_body_that_is_not_json_without_retrying(make_client, openai_server, sleep):
    openai_server.script(Reply(body="{not json"))
    client = make_client()

    with pytest.raises(LLMValidationError, match="not valid JSON") as caught:
        ask(client)

    assert caught.value.raw == "{not json"
    assert (caught.value.attempts, sleep.waits) == (1, [])
    assert client.get_metrics()["errors_by_type"] == {"LLMValidationError": 1}


def test_client_rejects_a_reply_with_empty_choices(make_client, openai_server):
    openai_server.script(Reply(body={"id": "x", "choices": [], "usage": {"prompt_tokens": 3}}))

    with pytest.raises(LLMValidationError, match="no choices"):
        ask(make_client())


def test_client_returns_a_length_cut_reply_as_is_from_plain_completion(make_client, openai_server):
    openai_server.script(Reply.text("cut of", finish_reason="length"))

    response = ask(make_client())

    assert (response.content, response.finish_reason) == ("cut of", "length")


def test_client_with_no_retries_makes_one_attempt(make_client, openai_server, sleep):
    openai_server.script(Reply.error(503))

    with pytest.raises(LLMStatusError):
        ask(make_client(retry=RetryPolicy(max_retries=0)))

    assert (len(openai_server.requests), sleep.waits) == (1, [])


def test_backoff_jitter_only_shortens_the_wait(make_client, openai_server, sleep):
    openai_server.script(*[Reply.error(500)] * 3, Reply.text("ok"))

    ask(make_client(retry=RetryPolicy()))

    assert len(sleep.waits) == 3
    for wait, base in zip(sleep.waits, BACKOFF, strict=True):
        assert base * 0.75 <= wait <= base
