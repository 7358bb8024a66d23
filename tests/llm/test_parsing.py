"""Reading replies: JSON in text, stream events, completion bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.llm import LLMValidationError
from core.llm.parsing import extract_json, parse_completion, parse_sse_line

json_objects = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    ),
    max_size=4,
)
prose = st.text(alphabet=st.characters(blacklist_characters="{}`"), max_size=40)


@settings(max_examples=80, deadline=None)
@given(value=json_objects, before=prose, after=prose, fenced=st.booleans())
def test_extract_json_finds_an_object_in_prose_or_a_fence(value, before, after, fenced):
    body = json.dumps(value, ensure_ascii=False)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before} {body} {after}"

    assert extract_json(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  [1, 2] ', [1, 2]),
        ('```\n{"a": "x"}\n```', {"a": "x"}),
        ('note {not json} then {"a": "}"}', {"a": "}"}),
        ('{"a": "quote \\" and { brace"}', {"a": 'quote " and { brace'}),
    ],
)
def test_extract_json_cases(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", '{"unclosed": 1', "```json\n{bad}\n```"])
def test_extract_json_says_when_there_is_none(text):
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json(text)


def test_sse_lines_carry_text_usage_and_the_done_marker():
    event = parse_sse_line('data: {"id": "c1", "model": "m", "choices": [{"delta": {"content": "Hi"}}]}')
    assert (event.text, event.request_id, event.model) == ("Hi", "c1", "m")
    usage = parse_sse_line('data: {"choices": [], "usage": {"prompt_tokens": 3}}')
    assert usage.usage == {"prompt_tokens": 3} and usage.text == ""
    assert parse_sse_line("data: [DONE]").done
    assert parse_sse_line(": keep-alive") is None
    assert parse_sse_line("") is None
    assert parse_sse_line("event: ping") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [("data: {oops", "not JSON"), ('data: {"error": {"message": "overloaded"}}', "overloaded")],
)
def test_bad_sse_events_raise_validation_errors(line, message):
    with pytest.raises(LLMValidationError, match=message):
        parse_sse_line(line)


def test_completion_body_without_choices_reports_the_server_error():
    with pytest.raises(LLMValidationError, match="no choices: model is overloaded"):
        parse_completion({"error": {"message": "model is overloaded"}}, "m")


def test_completion_with_null_content_reads_as_empty_text():
    completion = parse_completion(
        {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "stop"}]}, "m"
    )

    assert (completion.content, completion.model, completion.usage.total_tokens) == ("", "m", 0)
