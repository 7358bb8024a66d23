"""body_html is untrusted: only a few plain tags survive, nothing can run."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.writer.sanitize import ALLOWED_TAGS, sanitize_html, text_to_html


@pytest.mark.parametrize(
    "dirty, clean",
    [
        ("<p>Hello <strong>Khalid</strong></p>", "<p>Hello <strong>Khalid</strong></p>"),
        ("<p onclick=\"steal()\" style=\"color:red\">Hi</p>", "<p>Hi</p>"),
        ("<script>alert(1)</script><p>ok</p>", "<p>ok</p>"),
        ("<a href=\"javascript:alert(1)\">click</a>", "click"),
        ("<img src=x onerror=alert(1)>text", "text"),
        ("<iframe src=//evil><p>inside</p></iframe>after", "after"),
        ("<ul><li>one<li>two</ul>", "<ul><li>one<li>two</li></li></ul>"),
        ("<p>unclosed <em>tags", "<p>unclosed <em>tags</em></p>"),
        ("</p>stray close", "stray close"),
        ("1 < 2 & 3 > 2", "1 &lt; 2 &amp; 3 &gt; 2"),
        ("<p>&lt;script&gt;</p>", "<p>&lt;script&gt;</p>"),
        ("line<br/>break<br>", "line<br>break<br>"),
        ("<!-- comment --><p>x</p>", "<p>x</p>"),
        ("<style>p{}</style><STYLE>x</STYLE>kept", "kept"),
    ],
)
def test_sanitize_html_keeps_plain_tags_and_drops_everything_else(dirty, clean):
    assert sanitize_html(dirty) == clean


def test_sanitize_html_of_none_is_none():
    assert sanitize_html(None) is None


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' pscriptonerrhefa:lt;&!-iframe")), max_size=80))
def test_sanitize_html_output_has_only_bare_allowed_tags(fragment):
    clean = sanitize_html(fragment) or ""
    # text is escaped, so every "<" left opens a tag: each must be a bare allow-listed one
    for tag in re.findall(r"<[^>]*>?", clean):
        assert re.fullmatch(r"</?([a-z]+)>", tag) and re.fullmatch(r"</?([a-z]+)>", tag)[1] in ALLOWED_TAGS


def test_text_to_html_escapes_and_keeps_paragraphs():
    assert text_to_html("Dear <b>\nline two\n\nsecond") == "<p>Dear &lt;b&gt;<br>line two</p><p>second</p>"
