"""Small text tools the fallbacks and the validation share: sentences, cues, limits.

The cue lists are deliberately plain (English and Arabic words, a date pattern): they
pick sentences out of notes for an extractive summary when no model is available, and
they are shown to the user as "built without an LLM", never passed off as judgement.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

_SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+|\n+")
_WORD = re.compile(r"\S+")

ACTION_CUE = re.compile(
    r"\b(send|sent|call|follow[- ]?up|confirm|schedule|submit|prepare|review|arrange|deliver|share|"
    r"update|check|visit|sign|approve|pay|issue|collect|need(?:s)? to|must|should|will|please|asap|"
    r"action|todo|to do)\b"
    r"|سيتم|سوف|يجب|نرجو|يرجى|إرسال|ارسال|متابعة|تأكيد|مراجعة|الاتصال|تسليم|تجهيز",
    re.IGNORECASE,
)
BLOCKER_CUE = re.compile(
    r"\b(waiting|awaiting|delay(?:ed|s)?|pending|blocked|stuck|not ready|issue|problem|missing|on hold|"
    r"no response|no reply|hasn't|haven't|not yet|late|overdue|rework|dispute)\b"
    r"|بانتظار|في انتظار|تأخير|تأخر|متأخر|معلق|مشكلة|ناقص|لم يتم|لم يصل",
    re.IGNORECASE,
)
DATE_CUE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|"
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|today|tonight|"
    r"next week|next month|end of (?:the )?(?:week|month))\b"
    r"|غدا|غدًا|الأسبوع القادم|نهاية الشهر|نهاية الأسبوع",
    re.IGNORECASE,
)
# "Sara will send", "Omar to confirm", "@khalid"
_OWNER = re.compile(r"\b([A-Z][a-z]{1,30})\s+(?:will|to|should|must|needs to)\b|@(\w{2,30})")
_NOT_OWNERS = frozenset(
    {"It", "We", "They", "He", "She", "This", "That", "The", "You", "There", "Who", "What", "Need", "Needs",
     "Please", "Also", "Then", "And", "But", "Client", "Customer", "Team",
     "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Today", "Tomorrow",
     "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"}
)


def sentences(text: str) -> list[str]:
    """The sentences of a text, stripped, blanks dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def truncate_chars(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–") + ELLIPSIS


def truncate_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` words, with an ellipsis when cut."""
    words = text.split()
    if len(words) <= limit:
        return text.strip()
    return " ".join(words[:limit]).rstrip(" ,;:-–") + ELLIPSIS


def is_action(sentence: str) -> bool:
    """Work someone is given ('Sara will send ...'), or an action verb or date in a
    sentence that is not about waiting on others."""
    if owners_in(sentence):
        return True
    return bool(ACTION_CUE.search(sentence) or DATE_CUE.search(sentence)) and not is_blocker(sentence)


def is_blocker(sentence: str) -> bool:
    return bool(BLOCKER_CUE.search(sentence))


def owners_in(sentence: str) -> list[str]:
    """Names a sentence assigns work to ('Sara will ...', 'Omar to ...', '@khalid')."""
    found = []
    for match in _OWNER.finditer(sentence):
        name = match.group(1) or match.group(2)
        if name and name not in _NOT_OWNERS:
            found.append(name)
    return found


def unique(items: list[str]) -> list[str]:
    """Items in first-seen order without repeats (case-insensitive)."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
