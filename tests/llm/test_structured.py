"""Structured replies: JSON mode, extraction, validation, one re-ask, cut-off replies."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from core.llm import LLMValidationError
from tests.llm.helpers import run
from tests.support.openai_server import Reply


class Summary(BaseModel):
    summary: str
    confidence: float = Field(ge=0, le=1)


def structured(client, **options):
    options.setdefault("system_prompt", "Summarise the deal.")
    options.setdefault("user_prompt", "Deal 42: waiting for site readiness.")
    return run(client, lambda c: c.generate_structured_completion_with_response(Summary, **options))


GOOD = {"summary": "Waiting on the site.", "confidence": 0.8}


def test_structured_reply_is_validated_and_asks_for_json_mode(make_client, openai_server):
    openai_server.script(Reply.json(GOOD))

    result = structured(make_client(), prompt_id="deal.summarize", prompt_version="v1")

    assert result.data == Summary(**GOOD)
    (request,) = openai_server.requests
    assert request.body["response_format"] == {"type": "json_object"}
    system = request.body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Summarise the deal.")
    assert '"confidence"' in system["content"]  # the schema rides along with the prompt


def test_structured_reply_is_found_inside_a_code_fence(make_client, openai_server):
    openai_server.script(Reply.json(GOOD, fenced=True))

    result = structured(make_client())

    assert result.data.summary == "Waiting on the site."
    assert len(openai_server.requests) == 1


def test_structured_reply_is_found_as_the_first_object_in_prose(make_client, openai_server):
    openai_server.script(Reply.text('Sure! {"summary": "a {braced} note", "confidence": 0.5} Hope it helps.'))

    assert structured(make_client()).data.summary == "a {braced} note"


def test_wrong_schema_is_reasked_once_with_the_error_and_usage_adds_up(make_client, openai_server):
    openai_server.script(Reply.json({"summary": "x", "confidence": 7}), Reply.json(GOOD))
    client = make_client()

    result = structured(client)

    assert result.data == Summary(**GOOD)
    first, second = openai_server.requests
    reask = second.body["messages"]
    assert reask[:-2] == first.body["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"summary": "x", "confidence": 7}'}
    assert reask[-1]["role"] == "user"
    assert "confidence" in reask[-1]["content"] and "less than or equal to 1" in reask[-1]["content"]
    assert result.response.usage.total_tokens == 30  # 15 per reply
    assert result.response.attempts == 2
    metrics = client.get_metrics()
    assert (metrics["request_count"], metrics["success_count"], metrics["failure_count"]) == (2, 1, 1)
    assert metrics["total_tokens"] == 30


def test_malformed_json_is_reasked_once(make_client, openai_server):
    openai_server.script(Reply.text('{"summary": "unclosed'), Reply.json(GOOD))

    result = structured(make_client())

    assert result.data.confidence == 0.8
    assert "no JSON object" in openai_server.requests[1].body["messages"][-1]["content"]


def test_a_second_invalid_reply_raises_validation_error_with_the_raw_text(make_client, openai_server):
    openai_server.script(Reply.json({"wrong": 1}), Reply.json({"still": "wrong"}))

    with pytest.raises(LLMValidationError) as caught:
        structured(make_client())

    assert caught.value.raw == '{"still": "wrong"}'
    assert "Summary" in str(caught.value)
    assert len(openai_server.requests) == 2


def test_a_reply_cut_off_by_max_tokens_is_an_error_not_a_reask(make_client, openai_server):
    openai_server.script(Reply.text('{"summary": "Waiting on', finish_reason="length"))
    client = make_client()

    with pytest.raises(LLMValidationError, match="finish_reason=length") as caught:
        structured(client, max_tokens=5)

    assert caught.value.raw == '{"summary": "Waiting on'
    assert len(openai_server.requests) == 1
    assert client.get_metrics()["total_tokens"] == 15  # the tokens were still spent


def test_empty_choices_is_an_error_for_structured_calls_too(make_client, openai_server):
    openai_server.script(Reply(body={"choices": []}))

    with pytest.raises(LLMValidationError, match="no choices"):
        structured(make_client())


def test_server_without_json_mode_is_asked_again_without_response_format(make_client, openai_server, sleep):
    openai_server.script(Reply.error(400, "response_format is not supported by this model"), Reply.json(GOOD))
    client = make_client()

    result = structured(client)

    assert result.data == Summary(**GOOD)
    first, second = openai_server.requests
    assert "response_format" in first.body and "response_format" not in second.body
    assert sleep.waits == []
    assert client.json_mode is False


def test_json_mode_off_sends_no_response_format(make_client, openai_server):
    openai_server.script(Reply.json(GOOD))

    structured(make_client(json_mode=False))

    assert "response_format" not in openai_server.requests[0].body


def test_only_valid_structured_replies_are_cached(make_client, openai_server, store):
    openai_server.script(Reply.json({"wrong": 1}), Reply.json(GOOD))
    client = make_client(store=store)

    async def twice(c):
        first = await c.generate_structured_completion_with_response(Summary, user_prompt="same")
        second = await c.generate_structured_completion_with_response(Summary, user_prompt="same")
        return first, second

    first, second = run(client, twice)

    assert first.data == second.data == Summary(**GOOD)
    assert len(openai_server.requests) == 2  # the invalid reply and the re-ask; the repeat is cached
    assert second.response.cache_hit is True


def test_structured_completion_returns_the_schema_instance(make_client, openai_server):
    openai_server.script(Reply.json(GOOD))

    data = run(make_client(), lambda c: c.generate_structured_completion(Summary, user_prompt="Deal 42"))

    assert data == Summary(**GOOD)


def test_without_reask_an_invalid_reply_raises_after_one_request(make_client, openai_server):
    openai_server.script(Reply.json({"wrong": 1}), Reply.json(GOOD))

    with pytest.raises(LLMValidationError) as caught:
        structured(make_client(), reask=False)

    assert len(openai_server.requests) == 1
    assert caught.value.response is not None  # the caller can quote the reply when it asks again
