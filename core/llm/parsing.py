"""Reading what a chat-completions server sends back: reply bodies, stream events, JSON in text.

Pure functions over text and dicts, no I/O, so every odd reply a server or a model can
produce is testable in isolation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import validation_problems
from core.llm.errors import LLMValidationError
from core.llm.usage import Usage, usage_from_payload

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
DONE = "[DONE]"


@dataclass(frozen=True)
class Completion:
    """The useful part of one chat-completions body."""

    content: str
    model: str
    finish_reason: str | None
    usage: Usage
    request_id: str | None


def parse_completion(body: Any, requested_model: str) -> Completion:
    """Read a non-streaming reply body (already decoded JSON).

    Raises LLMValidationError when it holds no choice, or is not an object at all.
    """
    if not isinstance(body, dict):
        raise LLMValidationError("The server's reply is not a JSON object.", raw=json.dumps(body)[:2000])
    choices = body.get("choices")
    if not choices:
        raise LLMValidationError(
            "The server's reply has no choices" + _server_error_suffix(body), raw=json.dumps(body)[:2000]
        )
    choice = choices[0]
    model = body.get("model") or requested_model
    return Completion(
        content=(choice.get("message") or {}).get("content") or "",
        model=model,
        finish_reason=choice.get("finish_reason"),
        usage=usage_from_payload(body.get("usage"), model),
        request_id=body.get("id"),
    )


def _server_error_suffix(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return f": {error['message']}"
    return "."


@dataclass(frozen=True)
class StreamEvent:
    """One ``data:`` event of a stream: a text delta, and whatever else it carried."""

    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    request_id: str | None = None
    done: bool = False


def parse_sse_line(line: str) -> StreamEvent | None:
    """Read one line of a server-sent-events stream; None for lines that carry no event.

    Comments (``: keep-alive``), blank lines and fields other than ``data`` are skipped.
    Raises LLMValidationError for a data line that is not JSON or reports an error.
    """
    if not line.startswith("data:"):
        return None
    data = line[len("data:"):].strip()
    if data == DONE:
        return StreamEvent(done=True)
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise LLMValidationError("The stream sent an event that is not JSON.", raw=data[:2000]) from None
    if not isinstance(chunk, dict):
        raise LLMValidationError("The stream sent an event that is not a JSON object.", raw=data[:2000])
    if chunk.get("error"):
        reason = "The stream reported an error" + _server_error_suffix(chunk)
        raise LLMValidationError(reason, raw=data[:2000])
    choice = (chunk.get("choices") or [{}])[0]
    return StreamEvent(
        text=(choice.get("delta") or {}).get("content") or "",
        finish_reason=choice.get("finish_reason"),
        usage=chunk.get("usage"),
        model=chunk.get("model"),
        request_id=chunk.get("id"),
    )


def extract_json(text: str) -> Any:
    """The JSON value in a model's reply: the whole text, a fenced block, or the first object.

    Raises ValueError saying what was looked for when none of them parses.
    """
    stripped = text.strip()
    candidates = [stripped, *(block.strip() for block in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    for candidate in _balanced_objects(text):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("the reply holds no JSON object (not as a whole, in a ``` fence, or as {...})")


def _balanced_objects(text: str):
    """Each ``{...}`` span with balanced braces (strings respected), in order of its start."""
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is not None:
            yield text[start:end + 1]
        start = text.find("{", start + 1)


def _matching_brace(text: str, start: int) -> int | None:
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def validate_reply(text: str, schema: type[BaseModel]) -> BaseModel:
    """The schema instance a reply holds; ValueError with a short, model-readable reason if none."""
    value = extract_json(text)
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc, "(root)"))
        raise ValueError(f"the JSON does not match the schema {schema.__name__}: {problems}") from None
