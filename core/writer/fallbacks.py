"""Results built without an LLM: templates from the deal's facts, extracts from its notes.

Used when the LLM is off, fails, or twice gives an answer that breaks the rules. Every
fallback has confidence 0.0, source "fallback" and a warning that starts with the reason
(so the user knows why the text is plain) — and it still respects every channel limit.
Fixed phrases exist in English and Arabic; sentences quoted from notes stay as written.
"""

from __future__ import annotations

import tomllib

from core.config import PROMPTS_DIR
from core.formatting import money_full
from core.prompts.outputs import WHATSAPP_SHORT_MAX_CHARS
from core.writer.health import HealthAssessment, assess_health
from core.writer.models import (
    DEFAULT_EMAIL_INTENT,
    Channel,
    ComplianceContext,
    ComplianceResult,
    DealFacts,
    DealHealthContext,
    DealHealthResult,
    DealSummaryContext,
    DealSummaryResult,
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    HealthStatus,
    Language,
    Note,
    NoteSummaryContext,
    NoteSummaryResult,
    OrderReceivedContext,
    OrderReceivedResult,
    ReminderDraftContext,
    TextFormat,
    Tone,
    Urgency,
)
from core.writer.sanitize import text_to_html
from core.writer.text import (
    is_action,
    is_blocker,
    owners_in,
    sentences,
    truncate_chars,
    truncate_words,
    unique,
)

_MAX_LISTED = 5  # blockers, action items and the like kept in a fallback list

#: The words of every fallback, English and Arabic, kept as data beside the prompts.
PHRASES_FILE = PROMPTS_DIR / "phrases" / "fallbacks.toml"
_WORDS = tomllib.loads(PHRASES_FILE.read_text(encoding="utf-8"))

PHRASES: dict[Language, dict[str, str]] = {
    language: dict(_WORDS["phrases"][language.value]) for language in Language
}
PHRASES[Language.EN]["email.default_intent"] = DEFAULT_EMAIL_INTENT
_KIND_NAMES = {language: _WORDS["kind_names"][language.value] for language in Language}


def _t(language: Language, key: str, **values: object) -> str:
    return PHRASES[language][key].format(**values)


def _warnings(language: Language, kind: str, reason: str) -> list[str]:
    return [f"{reason.rstrip('.')}. {_t(language, 'made_without_llm', kind=_KIND_NAMES[language][kind])}"]


def recent_notes(notes: list[Note], limit: int) -> list[Note]:
    """The last ``limit`` notes, oldest first; dated notes in date order, undated ones after."""
    dated = sorted((n for n in notes if n.date), key=lambda n: n.date)  # type: ignore[arg-type, return-value]
    undated = [n for n in notes if not n.date]
    return (dated + undated)[-limit:]


def _note_sentences(notes: list[Note]) -> list[tuple[Note, str]]:
    return [(note, sentence) for note in notes for sentence in sentences(note.text)]


# -- email and reminders ----------------------------------------------------------------------


def _deal_line(language: Language, deal: DealFacts) -> str:
    value = "" if deal.value is None else money_full(deal.value, deal.currency)
    return _t(
        language, "email.deal",
        title=deal.title,
        org=_t(language, "email.org", org=deal.organization) if deal.organization else "",
        stage=deal.stage or _t(language, "unknown_stage"),
        days=_t(language, "email.days", days=deal.days_in_stage) if deal.days_in_stage is not None else "",
        value=_t(language, "email.value", value=value) if value else "",
        issue=_t(language, "email.issue", issue=deal.issue.rstrip(".")) if deal.issue else "",
    )


def fallback_email(context: EmailDraftContext, reason: str) -> DraftEmailResult:
    """A plain follow-up email listing each deal's stage, days in stage and value."""
    lang = context.language
    deals = context.deal_contexts
    about = deals[0].title if len(deals) == 1 else _t(lang, "deals", count=len(deals))
    greeting_key = "greeting.friendly" if context.tone is Tone.FRIENDLY else "greeting.other"
    prefix = _urgency_prefix(context.urgency, lang)
    # The default intent is ours, so it speaks the email's language; a user's intent is kept as written.
    intent = (_t(lang, "email.default_intent") if context.subject_intent == DEFAULT_EMAIL_INTENT
              else context.subject_intent)
    ask = _t(lang, "email.ask")
    if context.due_date:
        ask += " " + _t(lang, "email.due", date=context.due_date.isoformat())
    body = "\n\n".join([
        _t(lang, greeting_key, names=", ".join(context.recipients)),
        _t(lang, "email.opening", intent=intent),
        "\n".join(_deal_line(lang, deal) for deal in deals),
        ask,
        _t(lang, "email.closing") + "\n" + (context.sender_name or _t(lang, "email.team")),
    ])
    return DraftEmailResult(
        deal_ids=[deal.deal_id for deal in deals if deal.deal_id],
        subject=truncate_chars(f"{prefix}{intent[:1].upper()}{intent[1:]}: {about}", 120),
        body=body,
        body_html=text_to_html(body),
        suggested_followups=[_t(lang, "email.followup")],
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "email", reason),
    )


def _urgency_prefix(urgency: Urgency, language: Language) -> str:
    """'Urgent: ' for high and 'URGENT: ' for critical urgency; nothing below."""
    if urgency in (Urgency.HIGH, Urgency.CRITICAL):
        return _t(language, f"reminder.urgency.{urgency.value}")
    return ""


def _reminder_text(context: ReminderDraftContext, limit: int | None) -> str:
    """The reminder sentence, fitted to ``limit`` characters: first the context goes,
    then the title is shortened, so the ask and the date survive."""
    lang = context.language
    prefix = _urgency_prefix(context.urgency, lang)

    def compose(title: str, with_context: bool) -> str:
        return "".join([
            prefix,
            _t(lang, "reminder.hello", name=f" {context.recipient_name}" if context.recipient_name else ""),
            _t(lang, "reminder.about", title=title, stage=f" ({context.stage})" if context.stage else ""),
            _t(lang, "reminder.context", context=context.context) if with_context and context.context else "",
            _t(lang, "reminder.due", date=context.due_date.isoformat()) if context.due_date else "",
            _t(lang, "reminder.ask"),
        ])

    full = compose(context.deal_title, with_context=True)
    if limit is None or len(full) <= limit:
        return full
    short = compose(context.deal_title, with_context=False)
    if len(short) <= limit:
        return short
    room = limit - len(compose("", with_context=False))
    title = truncate_chars(context.deal_title, max(room, 8))
    return truncate_chars(compose(title, with_context=False), limit)


def fallback_reminder(context: ReminderDraftContext, reason: str) -> DraftReminderResult:
    """A reminder within its channel's limit (and ``max_length`` when smaller): SMS and
    WhatsApp's short version <= 160 characters, an email reminder <= 150 words."""
    lang = context.language
    limit = context.message_limit
    subject = None
    short_version = None
    if context.channel is Channel.SMS:
        message = _reminder_text(context, limit)
    elif context.channel is Channel.WHATSAPP:
        message = _reminder_text(context, limit)
        short_version = _reminder_text(context, WHATSAPP_SHORT_MAX_CHARS)
    else:
        message = truncate_words(_reminder_text(context, None), limit)
        prefix = _urgency_prefix(context.urgency, lang)
        subject = truncate_chars(_t(lang, "reminder.subject", prefix=prefix, title=context.deal_title), 120)
    return DraftReminderResult(
        deal_id=context.deal_id, channel=context.channel, subject=subject,
        message_text=message, short_version=short_version,
        tags=[t for t in ("reminder", context.channel.value, context.urgency.value, context.stage) if t],
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "reminder", reason),
    )


# -- summaries ---------------------------------------------------------------------------------


def fallback_deal_summary(context: DealSummaryContext, reason: str) -> DealSummaryResult:
    """The deal's state in one sentence, its latest note, blocker sentences and the next
    action found in the notes; recommendations from the days-in-stage thresholds."""
    lang = context.language
    notes = recent_notes(context.notes, context.max_notes)
    picked = _note_sentences(notes)
    days = context.days_in_stage
    state = _t(
        lang, "summary.state",
        title=context.title,
        stage=_t(lang, "summary.stage", stage=context.stage) if context.stage else _t(lang, "unknown_stage"),
        days=_t(lang, "summary.days", days=days) if days is not None else "",
        owner=_t(lang, "summary.owner", owner=context.owner) if context.owner else "",
    )
    if notes:
        latest = notes[-1]
        latest_text = _t(lang, "summary.latest", date=f" ({latest.date.isoformat()})" if latest.date else "",
                         text=truncate_chars(latest.text, 240))
    else:
        latest_text = _t(lang, "summary.no_notes")
    actions = [s for _, s in reversed(picked) if is_action(s)]
    next_action = actions[0] if actions else _t(
        lang, "summary.next", owner=context.owner or _t(lang, "summary.the_owner"))
    missing = [
        _t(lang, key) for key, absent in (
            ("missing.notes", not notes), ("missing.owner", not context.owner),
            ("missing.stage", not context.stage), ("missing.days", context.days_in_stage is None),
        ) if absent
    ]
    recommendations = []
    if context.include_recommendations:
        health, reasons = health_reasons(lang, context.stage, context.days_in_stage, None)
        if health.status is not HealthStatus.HEALTHY:
            recommendations.append(f"{reasons[0]} {_t(lang, f'health.action.{health.status.value}')}")
    return DealSummaryResult(
        deal_id=context.deal_id,
        summary=_layout([state, latest_text], context.max_length, context.format),
        next_action=truncate_chars(next_action, 240),
        blockers=unique([s for _, s in picked if is_blocker(s)])[:_MAX_LISTED] if context.include_blockers
        else [],
        missing_info=missing,
        recommendations=recommendations,
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "summary", reason),
    )


def _layout(parts: list[str], max_words: int, shape: TextFormat) -> str:
    """Parts as bullets or one paragraph, cut to ``max_words`` words in all."""
    kept: list[str] = []
    budget = max_words
    for part in parts:
        if budget <= 0:
            break
        kept.append(truncate_words(part, budget))
        budget -= len(kept[-1].split())
    return "\n".join(f"- {part}" for part in kept) if shape is TextFormat.BULLETS else " ".join(kept)


def fallback_note_summary(context: NoteSummaryContext, reason: str) -> NoteSummaryResult:
    """The first sentence of each note (up to ``max_length`` words) as bullets or a
    paragraph; sentences with an action verb or a date as action items, with owners
    from names ('Sara will ...') and the notes' authors."""
    lang = context.language
    notes = recent_notes(context.notes, context.max_notes)
    firsts = [sentences(note.text)[0] for note in notes if sentences(note.text)]
    summary = _layout(firsts, context.max_length, context.format)
    action_items: list[str] = []
    owners: list[str] = []
    if context.extract_action_items:
        for note, sentence in _note_sentences(notes):
            if is_action(sentence):
                action_items.append(sentence)
                named = owners_in(sentence)
                owners.extend(named or ([note.author] if note.author else []))
    return NoteSummaryResult(
        deal_id=context.deal_id, format=context.format, summary=summary,
        action_items=unique(action_items)[: _MAX_LISTED * 2], owners=unique(owners),
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "notes", reason),
    )


# -- checks -------------------------------------------------------------------------------------

_NEGATION, _SURVEY_WORDS, _QUALITY_WORDS, _TRUTHY_FIELD = (
    tuple(_WORDS["words"][name]) for name in ("negation", "survey", "quality", "truthy_field")
)


def _mentioned(context: ComplianceContext, words: tuple[str, ...]) -> bool:
    """True when a custom field about ``words`` is set to a yes-like value, or a note
    sentence mentions them without a negation; False otherwise."""
    for name, value in context.custom_fields.items():
        if any(w in name.lower() for w in words):
            lowered = value.strip().lower()
            if lowered.startswith("http") or lowered in _TRUTHY_FIELD:
                return True
    for _, sentence in _note_sentences(context.notes):
        lowered = sentence.lower()
        if any(w in lowered for w in words) and not any(n in lowered for n in _NEGATION):
            return True
    return False


def fallback_compliance(context: ComplianceContext, reason: str) -> ComplianceResult:
    """Survey checklist and quality documents looked up by keyword; empty custom fields listed."""
    lang = context.language
    survey = _mentioned(context, _SURVEY_WORDS) if context.check_survey_checklist else None
    quality = _mentioned(context, _QUALITY_WORDS) if context.check_quality_docs else None
    missing = []
    if survey is False:
        missing.append(_t(lang, "missing.survey"))
    if quality is False:
        missing.append(_t(lang, "missing.quality"))
    if context.check_custom_fields:
        missing.extend(_t(lang, "missing.custom", name=name)
                       for name, value in context.custom_fields.items() if not value.strip())
    return ComplianceResult(
        deal_id=context.deal_id, survey_checklist_present=survey, quality_docs_present=quality,
        missing_items=missing, comment=_t(lang, "compliance.comment"),
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "compliance", reason),
    )


_END_USER_WORDS, _REQUEST_WORDS = (tuple(_WORDS["words"][name]) for name in ("end_user", "request"))


def fallback_order_received(context: OrderReceivedContext, reason: str) -> OrderReceivedResult:
    """End user identified when a note names one; requests counted as note sentences
    that mention the end user asking for something."""
    lang = context.language
    picked = [s.lower() for _, s in _note_sentences(context.notes)]
    about_end_user = [s for s in picked if any(w in s for w in _END_USER_WORDS)]
    identified = any(not any(n in s for n in _NEGATION) for s in about_end_user)
    requests = sum(1 for s in about_end_user if any(w in s for w in _REQUEST_WORDS))
    missing = [
        _t(lang, key) for key, absent in (
            ("missing.end_user", not identified), ("missing.contact", not context.contact),
            ("missing.value", context.value is None), ("missing.notes", not context.notes),
        ) if absent
    ]
    return OrderReceivedResult(
        deal_id=context.deal_id, end_user_identified=identified, end_user_requests_count=requests,
        missing_items=missing, confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "order", reason),
    )


def health_reasons(language: Language, stage: str | None, days_in_stage: int | None,
                   days_since_last_note: int | None) -> tuple[HealthAssessment, list[str]]:
    """The rule-based verdict and the sentences that explain it, in ``language``."""
    health = assess_health(stage, days_in_stage, days_since_last_note)
    if health.threshold is None:
        reasons = [_t(language, "health.no_threshold", stage=stage or "-")]
    elif health.stage_status is None:
        reasons = [_t(language, "health.days_unknown")]
    else:
        critical = health.stage_status is HealthStatus.CRITICAL
        mark = health.threshold.critical if critical else health.threshold.warning
        reasons = [_t(language, f"health.stage.{health.stage_status.value}", days=days_in_stage, stage=stage,
                      mark=mark)]
    if days_since_last_note is not None:
        reasons.append(_t(language, "health.last_note", days=days_since_last_note))
    reasons.append(_t(language, f"gap.{health.gap.value}"))
    return health, reasons


def fallback_deal_health(context: DealHealthContext, reason: str) -> DealHealthResult:
    """The rule-based verdict of ``assess_health`` with its reasons as the summary."""
    lang = context.language
    health, reasons = health_reasons(lang, context.stage, context.days_in_stage, context.days_since_last_note)
    blockers = [s for _, s in _note_sentences(recent_notes(context.notes, 20)) if is_blocker(s)]
    return DealHealthResult(
        deal_id=context.deal_id,
        health_status=health.status,
        status_flag=_t(lang, f"health.flag.{health.status.value}"),
        summary=" ".join(reasons),
        blockers=unique(blockers)[:_MAX_LISTED],
        attribution=_t(lang, "health.attribution"),
        communication_assessment=_t(lang, f"gap.{health.gap.value}"),
        recommended_action=_t(lang, f"health.action.{health.status.value}"),
        days_in_stage=context.days_in_stage,
        stage_threshold=health.threshold,
        days_since_last_note=context.days_since_last_note,
        communication_gap=health.gap,
        confidence=0.0, source="fallback", language=lang,
        warnings=_warnings(lang, "health", reason),
    )
