"""Money and age formatting shared by the pages and charts: one place decides how SAR looks."""

from __future__ import annotations

import datetime as dt
import math
import re

_SCALES = ((1e9, "B"), (1e6, "M"), (1e3, "K"))
#: Every ASCII punctuation character: CommonMark lets a backslash escape any of them.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: Invisible, and breaks the patterns GitHub-flavoured Markdown turns into links.
WORD_JOINER = "\u2060"
#: Where an autolink could start: between ``:`` and ``//``, ``www`` and ``.``, before ``@``.
_AUTOLINK_START = re.compile(r"(?<=:)(?=//)|(?<=\bwww)(?=\.)|(?=@)", re.IGNORECASE)


def money_short(value: float | None, currency: str) -> str:
    """Compact money for metric tiles: ``SAR 1.24M``, ``SAR 950K``, ``-SAR 3.1K``, ``SAR 0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for scale, suffix in _SCALES:
        if size >= scale:
            scaled = size / scale
            digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
            return f"{sign}{currency} {scaled:.{digits}f}{suffix}"
    return f"{sign}{currency} {size:,.0f}"


def money_full(value: float | None, currency: str | None = "") -> str:
    """Full money, the one form outside the tiles (tables, captions, prompts, drafts, the command
    line): ``SAR 1,240,000``, ``-SAR 3,100``, whole units; ``1,240,000`` with no currency; ``—``
    for no value (callers that leave an absent value out test for it before calling)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    figure = f"{abs(value):,.0f}"
    return f"{sign}{currency} {figure}" if currency else f"{sign}{figure}"


def age_in_days(day: dt.date, today: dt.date) -> str:
    """How old a snapshot is, in words a reader scans: ``today``, ``1 day``, ``12 days``."""
    days = (today - day).days
    if days == 0:
        return "today"
    if days < 0:
        return f"in {-days} day{'s' if days != -1 else ''}"
    return f"{days} day{'s' if days != 1 else ''}"


def plain_markdown(text: object) -> str:
    """Untrusted text (a deal title or note, a file's column names, LLM output) made safe to
    put inside Markdown (alerts, captions, headings) so it shows as typed.

    Every ASCII punctuation character is backslash-escaped, so no image, link, emphasis,
    HTML, LaTeX (``$``) or Streamlit directive (``:red[...]``, ``:material/...:``) can form.
    Escapes do not stop GitHub-flavoured autolinks (found in the text after parsing), so an
    invisible word joiner goes inside each ``://``, ``www.`` and ``@``. Each line break stays
    a line break. ``![x](http://host/p.png)`` shows as those characters, fetches nothing and
    links nowhere."""
    lines = re.split(r"\r\n|\r|\n", str(text))
    return "  \n".join(_MARKDOWN_PUNCTUATION.sub(r"\\\1", _AUTOLINK_START.sub(WORD_JOINER, line))
                        for line in lines)
