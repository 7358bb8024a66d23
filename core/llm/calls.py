"""A call as the caller described it (model, messages, parameters, prompt identity).

Built once per public call, before any attempt; the payload, the cache key and the
``llm_calls`` row all come from it. Also the message shaping of structured calls.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from core.llm.config import TIERS
from core.llm.models import LLMResponse

JSON_OBJECT = {"type": "json_object"}
SCHEMA_INSTRUCTION = (
    "Reply with only one JSON object, no other text, that validates against this JSON Schema:\n{schema}"
)
REASK = "Your previous reply could not be used: {reason}. Reply again with only the corrected JSON object."


class _Unset:
    """Marks "use the client's own setting", which ``None`` ("send none") cannot say."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Call:
    """One request before any attempt."""

    model: str
    tier: str | None                # None when the caller named the model itself
    messages: list[dict[str, Any]]
    parameters: dict[str, Any]      # temperature, max_tokens, response_format when set
    prompt_id: str | None
    prompt_version: str | None
    variant: str | None
    use_cache: bool

    def payload(self, *, stream: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages, **self.parameters}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body


def build_call(
    models: Mapping[str, str],
    messages: list[dict[str, Any]] | None = None,
    *,
    system_prompt: str | None = None,
    user_prompt: str | None = None,
    tier: str = "balanced",
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    prompt_id: str | None = None,
    prompt_version: str | int | None = None,
    variant: str | None = None,
    use_cache: bool = True,
    response_format: dict[str, Any] | None = None,
) -> Call:
    """Check the caller's arguments and resolve the tier to a model id.

    These are the options of every LLMClient call: ``messages`` or a system and/or user
    prompt; the tier (fast, balanced, advanced) or a model id; sampling parameters sent
    when set; the prompt's id, version and A/B variant (for the call log and metrics);
    ``use_cache=False`` to skip the response cache; ``response_format`` as sent to the server.
    """
    if messages is not None and (system_prompt is not None or user_prompt is not None):
        raise ValueError("Pass either messages or system_prompt/user_prompt, not both.")
    if messages is None:
        messages = [
            {"role": role, "content": text}
            for role, text in (("system", system_prompt), ("user", user_prompt))
            if text is not None
        ]
    if not messages:
        raise ValueError("A completion needs a message: pass messages, system_prompt or user_prompt.")
    if tier not in models:
        raise ValueError(f"Unknown tier {tier!r}; expected one of {', '.join(TIERS)}.")
    options = (("temperature", temperature), ("max_tokens", max_tokens), ("response_format", response_format))
    return Call(
        model=model or models[tier],
        tier=None if model else tier,
        messages=[dict(message) for message in messages],
        parameters={name: value for name, value in options if value is not None},
        prompt_id=prompt_id,
        prompt_version=None if prompt_version is None else str(prompt_version),
        variant=variant,
        use_cache=use_cache,
    )


@functools.cache
def schema_instruction(schema: type[BaseModel]) -> str:
    """The request to reply in JSON matching ``schema``, built once per output model.

    Building a model's JSON Schema costs about a millisecond, and the forecast's LLM path
    asks with the same model a hundred times per run.
    """
    return SCHEMA_INSTRUCTION.format(schema=json.dumps(schema.model_json_schema(), separators=(",", ":")))


def with_schema_instruction(messages: list[dict[str, Any]], schema: type[BaseModel]) -> list[dict[str, Any]]:
    """Ask for JSON matching ``schema``: appended to the first system message, or as one."""
    instruction = schema_instruction(schema)
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def with_reask(messages: list[dict[str, Any]], reply: str, reason: str) -> list[dict[str, Any]]:
    """The conversation plus the unusable reply and a request to correct it."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": REASK.format(reason=reason)},
    ]


def combined(first: LLMResponse, second: LLMResponse) -> LLMResponse:
    """The second reply, carrying the usage, attempts and latency of both."""
    return second.model_copy(update={
        "usage": first.usage + second.usage,
        "attempts": first.attempts + second.attempts,
        "latency_ms": first.latency_ms + second.latency_ms,
    })
