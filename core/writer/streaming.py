"""Pull one string field out of a JSON reply while it is still arriving.

Streaming uses the same prompt as the structured call, so the model writes the same JSON
object; the dashboard wants only the text of one field (the email ``body``, the deal
``summary``) as it is written. ``JsonFieldStream`` is fed the raw chunks and hands back
the newly decoded characters of that field's value, escapes and all, and nothing else.
"""

from __future__ import annotations

import re

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JsonFieldStream:
    """Feed chunks of a JSON object's text; get back new characters of one string field."""

    def __init__(self, field: str) -> None:
        self._start = re.compile(rf'"{re.escape(field)}"\s*:\s*"')
        self._text = ""
        self._position: int | None = None  # where the undecoded rest of the value begins
        self.finished = False

    @property
    def found(self) -> bool:
        return self._position is not None

    def feed(self, chunk: str) -> str:
        """The field's characters that ``chunk`` completes ('' while none are ready)."""
        self._text += chunk
        if self.finished:
            return ""
        if self._position is None:
            match = self._start.search(self._text)
            if match is None:
                return ""
            self._position = match.end()
        decoded, self._position = self._decode(self._position)
        return decoded

    def _decode(self, position: int) -> tuple[str, int]:
        text, out = self._text, []
        while position < len(text):
            char = text[position]
            if char == '"':
                self.finished = True
                return "".join(out), position + 1
            if char != "\\":
                out.append(char)
                position += 1
                continue
            if position + 1 >= len(text):
                break  # the escape's second half has not arrived yet
            kind = text[position + 1]
            if kind != "u":
                out.append(_ESCAPES.get(kind, kind))
                position += 2
                continue
            unit = _hex(text, position + 2)
            if unit is None:
                break
            if 0xD800 <= unit < 0xDC00:  # a surrogate pair: wait for its low half
                if text[position + 6 : position + 8] != "\\u" and len(text) >= position + 8:
                    out.append("\ufffd")
                    position += 6
                    continue
                low = _hex(text, position + 8)
                if low is None:
                    break
                out.append(chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)))
                position += 12
            else:
                out.append(chr(unit))
                position += 6
        return "".join(out), position


def _hex(text: str, start: int) -> int | None:
    """The four hex digits at ``start`` as a number; None while they have not all arrived."""
    digits = text[start : start + 4]
    if len(digits) < 4:
        return None
    try:
        return int(digits, 16)
    except ValueError:
        return 0xFFFD
