"""What each prompt asks the model to produce, as Pydantic models.

Every prompt in ``prompts/`` names one of these classes in its ``output_model`` field,
and its system template shows the model a JSON skeleton with exactly these fields (a
test compares the two). The LLM client validates the model's answer with the class; a
violation (confidence outside [0, 1], an SMS over 160 characters, an email reminder over
150 words, an unknown health status) is a validation error the client re-asks about once.

Only what the model writes is here: ids, deal numbers and anything the service already
knows are filled in by the service, never taken from the model (deal notes are untrusted
and may carry instructions to relabel a result). Keys the model adds beyond these fields
are ignored, not trusted.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)

SMS_MAX_CHARS = 160
WHATSAPP_SHORT_MAX_CHARS = 160
EMAIL_REMINDER_MAX_WORDS = 150
STATUS_FLAG_MAX_CHARS = 80

Confidence = Annotated[float, Field(ge=0.0, le=1.0, description="how sure the model is, 0.0 to 1.0")]
Text = Annotated[str, Field(min_length=1)]


def _none_as(empty: object) -> BeforeValidator:
    """A field the result can do without: null reads as ``empty``, like a missing field."""
    return BeforeValidator(lambda value: empty if value is None else value)


# Optional fields: a model may leave them out or send null (many OpenAI-compatible servers
# write "body_html": null); neither is worth a re-ask, since the result does without them.
Items = Annotated[list[str], _none_as([]), Field(default_factory=list)]
OptionalText = Annotated[str, _none_as(""), Field(default="")]


def _at_most_words(limit: int):
    def check(text: str) -> str:
        words = len(text.split())
        if words > limit:
            raise ValueError(f"has {words} words; at most {limit} are allowed")
        return text

    return AfterValidator(check)


class DealSummary(BaseModel):
    """deal.summarize: where a deal stands and what to do next."""

    summary: Text
    next_action: Text
    blockers: Items
    missing_info: Items
    recommendations: Items
    confidence: Confidence


class ComplianceCheck(BaseModel):
    """deal.compliance_check: whether the required documents are on file.

    A presence flag is None when that check was switched off.
    """

    survey_checklist_present: bool | None = None
    quality_docs_present: bool | None = None
    missing_items: Items
    comment: OptionalText
    confidence: Confidence


class OrderReceivedAnalysis(BaseModel):
    """deal.order_received_analysis: is the end user known, and what have they asked for."""

    end_user_identified: bool
    end_user_requests_count: int = Field(ge=0)
    missing_items: Items
    confidence: Confidence


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    AT_RISK = "at_risk"
    CRITICAL = "critical"


class DealHealthAnalysis(BaseModel):
    """deal.health_analysis: time in stage and communication judged against thresholds."""

    health_status: HealthStatus
    status_flag: Annotated[str, Field(min_length=1, max_length=STATUS_FLAG_MAX_CHARS)]
    summary: Text
    blockers: Items
    attribution: OptionalText
    communication_assessment: OptionalText
    recommended_action: OptionalText
    confidence: Confidence


class FollowupEmail(BaseModel):
    """email.followup: a follow-up email in plain text and simple HTML."""

    subject: Annotated[str, Field(min_length=1, max_length=200)]
    body: Text
    body_html: Annotated[str | None, Field(default=None, description="simple HTML; null: built from body")]
    suggested_followups: Items
    confidence: Confidence


class WhatsAppReminder(BaseModel):
    """reminder.whatsapp: a WhatsApp message and a short version that fits a notification."""

    message_text: Text
    short_version: Annotated[str, Field(min_length=1, max_length=WHATSAPP_SHORT_MAX_CHARS)]
    tags: Items
    confidence: Confidence


class EmailReminder(BaseModel):
    """reminder.email: a short reminder email of at most 150 words."""

    subject: Annotated[str, Field(min_length=1, max_length=200)]
    message_text: Annotated[str, Field(min_length=1), _at_most_words(EMAIL_REMINDER_MAX_WORDS)]
    tags: Items
    confidence: Confidence


class SmsReminder(BaseModel):
    """reminder.sms: one SMS of at most 160 characters."""

    message_text: Annotated[str, Field(min_length=1, max_length=SMS_MAX_CHARS)]
    tags: Items
    confidence: Confidence


class NotesSummary(BaseModel):
    """notes.summarize: a summary of notes with action items and who owns them."""

    summary: Text
    action_items: Items
    owners: Items
    confidence: Confidence


class DatePrediction(BaseModel):
    """One deal's predicted dates from cashflow.predict_dates.

    The dates stay text here so that one deal with an unreadable date falls back to the
    rules engine on its own (DESIGN 5.3) instead of failing the whole batch; read them
    with ``invoice_date()`` and ``payment_date()``.
    """

    deal_id: str = Field(min_length=1)
    predicted_invoice_date: str | None
    predicted_payment_date: str | None
    confidence: Confidence
    assumptions: Items
    missing_fields: Items
    reasoning: OptionalText

    def invoice_date(self) -> dt.date | None:
        """The predicted invoice date; raises ValueError when it is not YYYY-MM-DD."""
        return _iso_date("predicted_invoice_date", self.predicted_invoice_date)

    def payment_date(self) -> dt.date | None:
        """The predicted payment date; raises ValueError when it is not YYYY-MM-DD."""
        return _iso_date("predicted_payment_date", self.predicted_payment_date)


def _iso_date(field: str, text: str | None) -> dt.date | None:
    if text is None or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{field} {text!r} is not a date in YYYY-MM-DD form") from exc


class DatePredictions(BaseModel):
    """cashflow.predict_dates: one prediction per deal sent, matched by ``deal_id``.

    Each prediction is validated on its own: one out of range (a confidence of 1.7) is left
    out, with its deal id and reason in ``invalid``, and the others are kept. Only a reply
    with no valid prediction at all fails validation (and is asked again)."""

    predictions: list[DatePrediction]
    _invalid: list[tuple[str | None, str]] = PrivateAttr(default_factory=list)

    @property
    def invalid(self) -> list[tuple[str | None, str]]:
        """(deal id as the reply gave it, or None; why it was left out) of each invalid prediction."""
        return self._invalid

    @model_validator(mode="wrap")
    @classmethod
    def _keep_the_valid_ones(
        cls, data: Any, handler: ModelWrapValidatorHandler[DatePredictions]
    ) -> DatePredictions:
        items = data.get("predictions") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return handler(data)
        valid, invalid = [], []
        for item in items:
            try:
                valid.append(DatePrediction.model_validate(item))
            except ValidationError as exc:
                deal_id = item.get("deal_id") if isinstance(item, dict) else None
                invalid.append((None if deal_id is None else str(deal_id).strip(), _first_error(exc)))
        if items and not valid:
            return handler(data)  # nothing usable: the whole reply fails, as before
        model = handler({**data, "predictions": valid})
        model._invalid = invalid
        return model


def _first_error(exc: ValidationError) -> str:
    """``field: message (got value)`` of a validation error's first problem."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "value"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


#: Every output model by class name, as prompts name them in ``output_model``.
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        DealSummary, ComplianceCheck, OrderReceivedAnalysis, DealHealthAnalysis, FollowupEmail,
        WhatsAppReminder, EmailReminder, SmsReminder, NotesSummary, DatePredictions,
    )
}
