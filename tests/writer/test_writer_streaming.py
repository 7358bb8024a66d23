"""JsonFieldStream: one string field of a JSON reply, decoded while the reply arrives."""

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from core.writer.streaming import JsonFieldStream


def feed_all(stream: JsonFieldStream, chunks: list[str]) -> str:
    return "".join(stream.feed(chunk) for chunk in chunks)


@settings(max_examples=100, deadline=None)
@given(value=st.text(), other=st.text(max_size=20), cuts=st.lists(st.integers(min_value=0, max_value=400)))
def test_json_field_stream_decodes_the_value_however_the_reply_is_cut(value, other, cuts):
    reply = json.dumps({"subject": other, "body": value, "body_html": "<p>x</p>"}, ensure_ascii=True)
    points = sorted({0, len(reply), *(cut % (len(reply) + 1) for cut in cuts)})
    chunks = [reply[start:end] for start, end in itertools.pairwise(points)]
    stream = JsonFieldStream("body")
    assert feed_all(stream, chunks) == value
    assert stream.finished


def test_json_field_stream_keeps_non_ascii_as_sent():
    reply = json.dumps({"summary": "الموقع غير جاهز ✓"}, ensure_ascii=False)
    assert feed_all(JsonFieldStream("summary"), list(reply)) == "الموقع غير جاهز ✓"


def test_json_field_stream_ignores_a_field_whose_name_only_starts_the_same():
    reply = '{"body_html": "<p>no</p>", "body": "yes"}'
    assert feed_all(JsonFieldStream("body"), [reply]) == "yes"


def test_json_field_stream_finds_the_field_inside_a_code_fence():
    reply = 'Here you go:\n```json\n{"summary": "Fine."}\n```'
    assert feed_all(JsonFieldStream("summary"), [reply[:20], reply[20:]]) == "Fine."


def test_json_field_stream_without_the_field_yields_nothing():
    stream = JsonFieldStream("body")
    assert feed_all(stream, ["I cannot help ", "with that."]) == ""
    assert not stream.found
