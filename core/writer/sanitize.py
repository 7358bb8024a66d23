"""Make model-written HTML safe to render: a few plain tags survive, everything else goes.

The model's ``body_html`` is untrusted (deal notes may carry instructions). The output is
rebuilt from parsed tokens rather than edited in place: text is escaped, tags outside the
allow list are dropped (their text kept), every attribute is dropped (so no ``onclick``,
``style`` or ``href="javascript:..."``), the content of script-like elements is dropped
whole, and open tags are closed so the fragment cannot swallow the page around it.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "blockquote"})
VOID_TAGS = frozenset({"br"})
#: Elements whose content is code or embedded documents, never text for a reader.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math", "head", "title"}
)


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skip_depth += 1
        elif self.skip_depth or tag not in ALLOWED_TAGS:
            return
        elif tag in VOID_TAGS:
            self.out.append(f"<{tag}>")
        else:
            self.out.append(f"<{tag}>")
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip_depth and tag in VOID_TAGS:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif self.skip_depth or tag not in self.open:
            return
        else:
            while self.open:  # close everything opened inside it too
                inner = self.open.pop()
                self.out.append(f"</{inner}>")
                if inner == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        closing = "".join(f"</{tag}>" for tag in reversed(self.open))
        return "".join(self.out) + closing


def sanitize_html(fragment: str | None) -> str | None:
    """The fragment with only allow-listed, attribute-free tags and escaped text."""
    if fragment is None:
        return None
    parser = _Sanitiser()
    parser.feed(fragment)
    return parser.result().strip()


def text_to_html(text: str) -> str:
    """Plain text as paragraphs and line breaks, every character escaped."""
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=False) for line in part.splitlines()) + "</p>"
        for part in paragraphs
    )
