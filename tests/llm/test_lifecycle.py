"""LLM off as a first-class state, and the client's life cycle (closed, bound to one loop)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import BaseModel

from core.config import Settings
from core.llm import LLMClient, LLMUnavailableError
from tests.llm.helpers import ask, collect_stream, run


class Anything(BaseModel):
    value: str


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent while the LLM is off: {request.url}")


def test_no_key_and_the_default_remote_url_means_llm_off(settings):
    client = LLMClient(settings)

    assert client.enabled is False
    assert "DEALCAST_LLM_API_KEY" in client.disabled_reason
    assert "https://openrouter.ai/api/v1" in client.disabled_reason


@pytest.mark.parametrize(
    ("base_url", "api_key", "enabled"),
    [
        ("https://openrouter.ai/api/v1", "", False),
        ("https://api.openai.com/v1", "", False),
        ("https://api.openai.com/v1", "sk-x", True),
        ("http://localhost:11434/v1", "", True),   # Ollama needs no key
        ("http://10.0.0.5:8000/v1", "", True),     # a vLLM box on the LAN
    ],
)
def test_llm_is_off_only_for_hosted_apis_without_a_key(settings, base_url, api_key, enabled):
    assert LLMClient(settings, base_url=base_url, api_key=api_key).enabled is enabled


@pytest.mark.parametrize("method", ["generate", "structured", "stream"])
def test_every_call_fails_at_once_while_off_without_any_request(settings, method):
    client = LLMClient(settings, transport=httpx.MockTransport(never_called))
    calls = {
        "generate": lambda: ask(client),
        "structured": lambda: run(
            client, lambda c: c.generate_structured_completion(Anything, user_prompt="x")
        ),
        "stream": lambda: collect_stream(client, []),
    }

    with pytest.raises(LLMUnavailableError, match="LLM off: No API key"):
        calls[method]()


def test_settings_read_the_key_from_openrouter_and_openai_variables():
    assert LLMClient(Settings.from_env({"OPENROUTER_API_KEY": "k1"})).enabled
    assert LLMClient(Settings.from_env({"OPENAI_API_KEY": "k2"})).has_api_key


def test_a_closed_client_refuses_use_with_a_precise_message(make_client):
    client = make_client()
    asyncio.run(client.aclose())

    with pytest.raises(RuntimeError, match="closed with aclose"):
        asyncio.run(client.generate_completion(user_prompt="hi"))
    assert "state=closed" in repr(client)


def test_a_client_stays_on_the_event_loop_it_first_ran_on(make_client, openai_server):
    client = make_client()

    def from_another_loop() -> None:
        asyncio.run(client.generate_completion(user_prompt="hi"))

    async def scenario(c):
        await c.generate_completion(user_prompt="hi")
        with pytest.raises(RuntimeError, match="bound to the event loop"):
            await asyncio.to_thread(from_another_loop)

    run(client, scenario)

    assert len(openai_server.requests) == 1


def test_client_reuses_one_connection_for_sequential_calls(make_client, openai_server):
    client = make_client()

    async def three(c):
        for _ in range(3):
            await c.generate_completion(user_prompt="hi", use_cache=False)

    run(client, three)

    assert len(openai_server.requests) == 3
    assert openai_server.connections == 1


def test_unknown_tier_and_missing_messages_are_caller_errors(make_client):
    client = make_client()

    with pytest.raises(ValueError, match="Unknown tier 'cheap'"):
        ask(client, tier="cheap")
    with pytest.raises(ValueError, match="needs a message"):
        run(client, lambda c: c.generate_completion())
    with pytest.raises(ValueError, match="not both"):
        run(client, lambda c: c.generate_completion([{"role": "user", "content": "a"}], user_prompt="b"))


def test_an_explicit_model_overrides_the_tier(make_client, openai_server):
    ask(make_client(), model="meta-llama/llama-3.1-8b-instruct")

    assert openai_server.requests[0].body["model"] == "meta-llama/llama-3.1-8b-instruct"
