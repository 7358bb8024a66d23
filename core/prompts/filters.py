"""Jinja filters for prompt templates, and the one sandboxed environment they are compiled with.

StrictUndefined, no autoescaping (prompts are not HTML), trimmed block lines. Deal notes and
other CRM text are untrusted: templates put them inside delimited data blocks
(``<deal_notes>...``) through filters that neutralise anything shaped like a tag, so a note
cannot close its block and speak as instructions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from core.formatting import money_full

# A "<" that starts something shaped like a tag ("<x", "</x", "< / x", "<!x", "<?x").
_TAG_START = re.compile(r"<(?=\s*[/!?]?\s*[A-Za-z_])")
_WHITESPACE = re.compile(r"\s+")

LANGUAGE_NAMES = {"en": "English", "ar": "Arabic (العربية)", "fr": "French", "de": "German", "es": "Spanish"}


def _absent(value: Any) -> bool:
    """No value to show: None, undefined, empty text or collection, NaN or NaT (from pandas)."""
    if value is None or isinstance(value, jinja2.Undefined):
        return True
    if isinstance(value, str | list | tuple | dict):
        return not value
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _cut(text: str, max_chars: int | None) -> str:
    """Text on one line, cut to ``max_chars`` with an ellipsis."""
    text = _WHITESPACE.sub(" ", text).strip()
    return text if not max_chars or len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def untrusted(value: Any) -> str:
    """Text from outside (CRM fields, notes) made safe to place inside a data block.

    Every ``<`` that starts something shaped like a tag becomes ``‹``, so the text can
    neither close the block it sits in (``</deal_notes>``) nor open one of its own.
    """
    return _TAG_START.sub("‹", "" if _absent(value) else str(value))


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def note_lines(notes: Any, limit: int | None = None, max_chars: int | None = None) -> str:
    """Notes as ``- DATE AUTHOR: text`` lines, oldest first, the ``limit`` most recent only.

    Notes are mappings or objects with ``text``, ``date`` and ``author`` (or plain strings).
    Undated notes count as the oldest. Text is made ``untrusted`` and put on one line.
    """
    items = [] if _absent(notes) else [
        {"text": item} if isinstance(item, str) else
        {"text": _field(item, "text"), "date": _field(item, "date"), "author": _field(item, "author")}
        for item in notes
    ]
    ordered = sorted(items, key=lambda note: (note.get("date") is not None, str(note.get("date") or "")))
    shown = ordered[-limit:] if limit else ordered
    lines = [f"({len(ordered) - len(shown)} older notes not shown)"] if len(shown) < len(ordered) else []
    for note in shown:
        text = _cut(str(note.get("text") or ""), max_chars)
        author = note.get("author") or "(author unknown)"
        lines.append(f"- {note.get('date') or 'undated'} {author}: {text}")
    return untrusted("\n".join(lines) if lines else "(no notes)")


def fact_lines(facts: Mapping[str, Any]) -> str:
    """``Label: value`` lines for the facts that have a value, made ``untrusted``."""
    lines = [
        f"{label}: {_cut(str(value), None)}"
        for label, value in facts.items() if not _absent(value)
    ]
    return untrusted("\n".join(lines))


def _shorten(value: Any, max_chars: int) -> Any:
    if isinstance(value, Mapping):
        return {key: _shorten(item, max_chars) for key, item in value.items() if not _absent(item)}
    if isinstance(value, list | tuple):
        return [_shorten(item, max_chars) for item in value]
    if isinstance(value, str):
        return _cut(value, max_chars)
    return value


def compact_json(value: Any, max_chars: int = 160) -> str:
    """One line of JSON without empty fields, long strings cut to ``max_chars``, made ``untrusted``."""
    text = json.dumps(_shorten(value, max_chars), ensure_ascii=False, separators=(",", ":"), default=str)
    return untrusted(text)


def language_instruction(code: Any) -> str:
    """The sentence that tells the model which language to write in."""
    code = str(getattr(code, "value", code) or "en").strip().lower()
    if code == "ar":
        return (
            "Write every text value in Arabic (العربية), clear Modern Standard Arabic. Keep the JSON "
            "keys in English exactly as shown, and dates as YYYY-MM-DD."
        )
    return f"Write every text value in {LANGUAGE_NAMES.get(code, code)}."


def money(value: Any, currency: Any = "") -> str | None:
    """``SAR 1,250,000`` as ``core.formatting.money_full`` writes it; None (the line is left out)
    when there is no value, and text that is not a number as it is."""
    if _absent(value):
        return None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    return money_full(amount, None if _absent(currency) else str(currency))


FILTERS = {
    "untrusted": untrusted,
    "note_lines": note_lines,
    "fact_lines": fact_lines,
    "compact_json": compact_json,
    "language_instruction": language_instruction,
    "money": money,
}


def build_environment() -> SandboxedEnvironment:
    """The one Jinja2 environment every prompt is compiled with."""
    environment = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters.update(FILTERS)
    return environment
