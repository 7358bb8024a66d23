"""What the writer takes (contexts) and what it gives back (results).

A context carries the facts about one deal (or several, for an email) and every option
that shapes the text: language, tone, channel, urgency, format, length, switches. The
service renders each option into the prompt, so an option that is not here cannot
change what the model writes.

A result carries what was written plus ``confidence`` in [0, 1], ``warnings`` and
``source`` ("llm" or "fallback"). Ids (``deal_id``, ``deal_ids``) are copied from the
context, never taken from the model's answer: deal notes are untrusted text, and an
instruction hidden in them must not be able to relabel a result.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

# The verdicts and channel limits the prompts' output models enforce.
from core.prompts.outputs import EMAIL_REMINDER_MAX_WORDS, SMS_MAX_CHARS, HealthStatus

#: What ``core.writer`` exports of these models (the contexts, results and their options).
__all__ = [
    "Channel",
    "CommunicationGap",
    "ComplianceContext",
    "ComplianceResult",
    "DealFacts",
    "DealHealthContext",
    "DealHealthResult",
    "DealSummaryContext",
    "DealSummaryResult",
    "DraftEmailResult",
    "DraftReminderResult",
    "EmailDraftContext",
    "HealthStatus",
    "Language",
    "Note",
    "NoteSummaryContext",
    "NoteSummaryResult",
    "OrderReceivedContext",
    "OrderReceivedResult",
    "ReminderDraftContext",
    "StageChange",
    "StageThreshold",
    "TextFormat",
    "Tone",
    "Urgency",
    "WriterResult",
]

# -- options ------------------------------------------------------------------------------


class Language(StrEnum):
    """Languages the writer drafts in."""

    EN = "en"
    AR = "ar"


class Tone(StrEnum):
    PROFESSIONAL = "professional"
    FRIENDLY = "friendly"
    FORMAL = "formal"
    FIRM = "firm"


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    SMS = "sms"


class Urgency(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class TextFormat(StrEnum):
    """How a summary or email body is laid out."""

    BULLETS = "bullets"
    PARAGRAPH = "paragraph"


class CommunicationGap(StrEnum):
    """How long since anyone wrote on the deal: <5 days healthy, 5-10 acceptable,
    10-14 warning, over 14 a gap (DESIGN section 7)."""

    HEALTHY = "healthy"
    ACCEPTABLE = "acceptable"
    WARNING = "warning"
    GAP = "gap"
    UNKNOWN = "unknown"



# -- notes ----------------------------------------------------------------------------------

# "2026-01-12 Sara: text", "[2026-01-12] (Sara) text", "2026-01-12 - text"
_NOTE_LINE = re.compile(
    r"^\[?(?P<date>\d{4}-\d{2}-\d{2})\]?\s*[-–:|]?\s*"
    r"(?:\((?P<paren>[^)]{1,40})\)\s*[-–:]?\s*|(?P<colon>[^\W\d][\w .'-]{0,39}):\s+)?"
    r"(?P<text>.*)$",
    re.DOTALL,
)


class Note(BaseModel):
    """One note on a deal: its text and, when known, when and by whom it was written."""

    model_config = ConfigDict(extra="forbid")

    text: str
    date: dt.date | None = None
    author: str | None = None


def parse_notes(text: str | None) -> list[Note]:
    """Split a deal's ``notes`` column into notes, one per non-blank line.

    A line that starts with an ISO date (optionally bracketed) gives the note its date,
    and an author may follow as ``Name:`` or ``(Name)``. Lines without a date are kept
    as undated notes; nothing is dropped.
    """
    notes: list[Note] = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        match = _NOTE_LINE.match(line)
        if match is None:
            notes.append(Note(text=line))
            continue
        try:
            date = dt.date.fromisoformat(match["date"])
        except ValueError:
            notes.append(Note(text=line))
            continue
        author = (match["paren"] or match["colon"] or "").strip() or None
        notes.append(Note(text=match["text"].strip() or line, date=date, author=author))
    return notes


def _coerce_notes(value: Any) -> Any:
    """Accept notes as one text (the CRM column), a list of texts, or a list of notes."""
    if value is None:
        return []
    if isinstance(value, str):
        return parse_notes(value)
    if isinstance(value, list):
        return [Note(text=item) if isinstance(item, str) else item for item in value]
    return value


def _coerce_id(value: Any) -> Any:
    """Ids are strings everywhere (DESIGN section 2); a JSON file may hold a number."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# -- contexts --------------------------------------------------------------------------------


class _Context(BaseModel):
    """Base of every context: unknown fields are an error, so a typo in a file is caught."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    language: Language = Language.EN


class _DealContext(_Context):
    """A context about one deal. ``notes`` takes the CRM text column or a list of notes.

    The seed's ``deal_title`` is accepted for ``title`` and read back under that name."""

    deal_id: str = Field(min_length=1)
    title: str = Field(min_length=1, validation_alias=AliasChoices("title", "deal_title"))
    stage: str | None = None
    notes: list[Note] = Field(default_factory=list)

    _id = field_validator("deal_id", mode="before")(_coerce_id)
    _notes = field_validator("notes", mode="before")(_coerce_notes)

    @property
    def assignment_key(self) -> str:
        """The key that picks an A/B prompt variant for this deal, stable across runs."""
        return self.deal_id

    @property
    def deal_title(self) -> str:
        """The seed's name for ``title``."""
        return self.title


class DealFacts(BaseModel):
    """The facts about one deal an email can cite (the seed's ``deal_contexts`` entries:
    ``title``, ``pipeline``, ``stage``, ``issue``). Without a ``deal_id`` the deal is
    cited by its facts only and the result lists no id for it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    deal_id: str | None = Field(default=None, min_length=1)
    title: str = Field(min_length=1)
    pipeline: str | None = None
    stage: str | None = None
    issue: str | None = Field(default=None, description="what holds the deal up, in a few words")
    value: float | None = None
    currency: str | None = None
    organization: str | None = None
    contact: str | None = None
    owner: str | None = None
    days_in_stage: int | None = Field(default=None, ge=0)
    expected_close: dt.date | None = None
    notes: list[Note] = Field(default_factory=list)

    _id = field_validator("deal_id", mode="before")(_coerce_id)
    _notes = field_validator("notes", mode="before")(_coerce_notes)


class EmailDraftContext(_Context):
    """A follow-up email about one or more deals."""

    recipients: list[str] = Field(min_length=1)
    recipient_role: str = Field(default="client", min_length=1, description="e.g. client, consultant")
    subject_intent: str = Field(min_length=1, description="what the email is for, in a few words")
    deal_contexts: list[DealFacts] = Field(min_length=1)
    tone: Tone = Tone.PROFESSIONAL
    urgency: Urgency = Urgency.MEDIUM
    format: TextFormat = TextFormat.PARAGRAPH
    max_length: int = Field(default=200, ge=20, le=1000, description="most words in the body")
    due_date: dt.date | None = Field(default=None, description="the date a reply or action is asked for")
    max_notes: int = Field(default=5, ge=0, le=50, description="most recent notes per deal sent to the model")
    constraints: list[str] = Field(default_factory=list, description="extra instructions, one each")
    sender_name: str | None = None

    @property
    def assignment_key(self) -> str:
        return ",".join(deal.deal_id or deal.title for deal in self.deal_contexts)


class ReminderDraftContext(_Context):
    """A WhatsApp, email or SMS reminder about one deal."""

    channel: Channel = Channel.WHATSAPP
    urgency: Urgency = Urgency.MEDIUM
    recipient_role: str = Field(default="client", min_length=1, description="e.g. client, site engineer")
    recipient_name: str | None = None
    deal_id: str = Field(min_length=1)
    deal_title: str = Field(min_length=1)
    stage: str | None = None
    context: str | None = Field(default=None, description="what the reminder is about")
    due_date: dt.date | None = None
    tone: Tone = Tone.PROFESSIONAL
    sender_name: str | None = None
    max_length: int | None = Field(
        default=None, ge=20, le=2000,
        description="characters (SMS, WhatsApp) or words (email); None: the channel's own limit",
    )
    constraints: list[str] = Field(default_factory=list, description="extra instructions, one each")

    _id = field_validator("deal_id", mode="before")(_coerce_id)

    @property
    def assignment_key(self) -> str:
        return self.deal_id

    @property
    def message_limit(self) -> int | None:
        """The most ``message_text`` may hold: characters for SMS and WhatsApp, words for an
        email; the channel's own limit unless ``max_length`` is smaller (WhatsApp has none)."""
        own = {Channel.SMS: SMS_MAX_CHARS, Channel.EMAIL: EMAIL_REMINDER_MAX_WORDS, Channel.WHATSAPP: None}
        limits = [limit for limit in (own[self.channel], self.max_length) if limit is not None]
        return min(limits) if limits else None


class DealSummaryContext(_DealContext):
    """A summary of one deal: where it stands, what blocks it, what to do next.

    The seed's ``owner_name`` is accepted for ``owner`` and read back under that name."""

    owner: str | None = Field(default=None, validation_alias=AliasChoices("owner", "owner_name"))
    days_in_stage: int | None = Field(default=None, ge=0)
    value: float | None = None
    currency: str | None = None
    organization: str | None = None
    include_recommendations: bool = True
    include_blockers: bool = True
    max_notes: int = Field(default=10, ge=1, le=200, description="most recent notes sent to the model")
    format: TextFormat = TextFormat.PARAGRAPH
    max_length: int = Field(default=120, ge=10, le=2000, description="most words in the summary")
    tone: Tone = Tone.PROFESSIONAL
    constraints: list[str] = Field(default_factory=list, description="extra instructions, one each")

    @property
    def owner_name(self) -> str | None:
        """The seed's name for ``owner``."""
        return self.owner


class ComplianceContext(_DealContext):
    """Whether a deal carries the documents its stage requires."""

    check_survey_checklist: bool = True
    check_quality_docs: bool = True
    check_custom_fields: bool = False
    custom_fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value


class OrderReceivedContext(_DealContext):
    """A deal in Order Received: is the end user known, and what have they asked for."""

    organization: str | None = None
    contact: str | None = None
    value: float | None = None
    currency: str | None = None
    days_in_stage: int | None = Field(default=None, ge=0)


class StageChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    entered_at: dt.date


class DealHealthContext(_DealContext):
    """A deal's health: time in stage against its thresholds, and communication."""

    days_in_stage: int | None = Field(default=None, ge=0)
    value: float | None = None
    currency: str | None = None
    owner: str | None = None
    stage_history: list[StageChange] = Field(default_factory=list)
    last_activity: dt.date | None = None
    days_since_last_note: int | None = Field(default=None, ge=0)
    tone: Tone = Tone.PROFESSIONAL


class NoteSummaryContext(_Context):
    """A summary of notes, with or without action items."""

    deal_id: str | None = None
    title: str | None = None
    notes: list[Note] = Field(min_length=1)
    max_notes: int = Field(default=30, ge=1, le=500, description="most recent notes sent to the model")
    format: TextFormat = TextFormat.BULLETS
    max_length: int = Field(default=120, ge=10, le=2000, description="most words in the summary")
    extract_action_items: bool = True

    _id = field_validator("deal_id", mode="before")(_coerce_id)
    _notes = field_validator("notes", mode="before")(_coerce_notes)

    @property
    def assignment_key(self) -> str | None:
        return self.deal_id


# -- results ---------------------------------------------------------------------------------


#: What an email is for when the caller does not say (the CLI and stored-deal contexts).
DEFAULT_EMAIL_INTENT = "the next step and its date"


class WriterResult(BaseModel):
    """What every writer result carries besides its text."""

    confidence: float = Field(ge=0.0, le=1.0)
    warnings: list[str] = Field(default_factory=list)
    source: Literal["llm", "fallback"]
    language: Language = Language.EN

    def as_text(self) -> str:
        """The result as labelled lines for the terminal and the Writer page: lists as
        bullets, long text on its own lines, bookkeeping fields in one header line."""
        lines = [f"[{self.source}, confidence {self.confidence:.2f}, {self.language.value}]"]
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in _BOOKKEEPING or value is None:
                continue
            label = name.replace("_", " ").capitalize()
            if isinstance(value, list):
                lines.append(f"{label}:" + "".join(f"\n  - {_plain(item)}" for item in value) if value
                             else f"{label}: (none)")
            elif isinstance(value, str) and "\n" in value:
                lines.append(f"{label}:\n{value}")
            else:
                lines.append(f"{label}: {_plain(value)}")
        return "\n".join(lines)


_BOOKKEEPING = ("confidence", "warnings", "source", "language")


def _plain(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        return ", ".join(f"{name} {item}" for name, item in value.model_dump().items())
    return str(value)


class DraftEmailResult(WriterResult):
    deal_ids: list[str]
    subject: str
    body: str
    body_html: str | None = Field(default=None, description="sanitised: only a few plain tags survive")
    suggested_followups: list[str] = Field(default_factory=list)


class DraftReminderResult(WriterResult):
    deal_id: str
    channel: Channel
    subject: str | None = Field(default=None, description="email reminders only")
    message_text: str
    short_version: str | None = Field(default=None, description="WhatsApp: at most 160 characters")
    tags: list[str] = Field(default_factory=list)


class DealSummaryResult(WriterResult):
    deal_id: str
    summary: str
    next_action: str
    blockers: list[str] = Field(default_factory=list)
    missing_info: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class ComplianceResult(WriterResult):
    deal_id: str
    survey_checklist_present: bool | None = Field(default=None, description="None when not checked")
    quality_docs_present: bool | None = Field(default=None, description="None when not checked")
    missing_items: list[str] = Field(default_factory=list)
    comment: str = ""

    @property
    def status(self) -> Literal["complete", "incomplete", "not_checked"]:
        """One word for the check: complete (every checked document present, nothing missing),
        incomplete, or not_checked (no check was switched on)."""
        flags = [f for f in (self.survey_checklist_present, self.quality_docs_present) if f is not None]
        if not flags and not self.missing_items:
            return "not_checked"
        return "complete" if all(flags) and not self.missing_items else "incomplete"


class OrderReceivedResult(WriterResult):
    deal_id: str
    end_user_identified: bool
    end_user_requests_count: int = Field(ge=0)
    missing_items: list[str] = Field(default_factory=list)


class StageThreshold(BaseModel):
    """Days in stage at which a deal turns at risk (warning) and critical."""

    warning: int
    critical: int


class DealHealthResult(WriterResult):
    deal_id: str
    health_status: HealthStatus
    status_flag: str
    summary: str
    blockers: list[str] = Field(default_factory=list)
    attribution: str = ""
    communication_assessment: str = ""
    recommended_action: str = ""
    days_in_stage: int | None = None
    stage_threshold: StageThreshold | None = Field(default=None, description="None for a stage without one")
    days_since_last_note: int | None = None
    communication_gap: CommunicationGap = CommunicationGap.UNKNOWN


class NoteSummaryResult(WriterResult):
    deal_id: str | None = None
    format: TextFormat
    summary: str
    action_items: list[str] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
