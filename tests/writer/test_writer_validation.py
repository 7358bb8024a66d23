"""Checks beyond the schema: what a model-written result must satisfy for its context."""

import pytest

from core.writer.models import DealSummaryResult, DraftEmailResult, DraftReminderResult, NoteSummaryResult
from core.writer.validation import result_problems
from tests.writer.helpers import email_context, notes_context, reminder_context, summary_context


def reminder(channel: str, **fields) -> DraftReminderResult:
    values = {"deal_id": "1", "channel": channel, "message_text": "Please confirm.", "confidence": 0.5,
              "source": "llm", **fields}
    return DraftReminderResult(**values)


def test_result_problems_none_for_a_good_reminder():
    assert result_problems(reminder("whatsapp", short_version="Confirm?"), reminder_context()) == []


@pytest.mark.parametrize(
    "channel, fields, changes, problem",
    [
        ("sms", {"message_text": "x" * 161}, {}, "message_text has 161 characters; at most 160"),
        ("sms", {"message_text": "x" * 101}, {"max_length": 100},
         "message_text has 101 characters; at most 100"),
        ("whatsapp", {"short_version": "y" * 161}, {}, "short_version has 161 characters; at most 160"),
        ("whatsapp", {"short_version": " "}, {}, "short_version is missing"),
        ("whatsapp", {"short_version": "ok", "message_text": "z" * 61}, {"max_length": 60},
         "message_text has 61 characters; at most 60"),
        ("email", {"subject": "Hi", "message_text": "word " * 151}, {},
         "message_text has 151 words; at most 150"),
        ("email", {"subject": "  "}, {}, "subject is missing"),
    ],
)
def test_result_problems_enforce_channel_limits(channel, fields, changes, problem):
    problems = result_problems(reminder(channel, **fields), reminder_context(channel=channel, **changes))
    assert any(problem in text for text in problems), problems


def test_result_problems_email_needs_a_subject_and_a_body_within_its_length():
    email = DraftEmailResult(deal_ids=["1"], subject=" ", body="word " * 60, confidence=0.5, source="llm")
    assert result_problems(email, email_context(max_length=50)) == [
        "subject is empty; an email needs a subject.",
        "body has 60 words; at most 50 were asked for.",
    ]


def test_result_problems_allow_a_little_slack_on_summary_words():
    summary = NoteSummaryResult(format="bullets", summary="word " * 25, confidence=0.5, source="llm")
    assert result_problems(summary, notes_context(max_length=20)) == []
    longer = summary.model_copy(update={"summary": "word " * 26})
    assert result_problems(longer, notes_context(max_length=20)) == [
        "summary has 26 words; at most 20 were asked for."
    ]


@pytest.mark.parametrize(
    "language, text, problem",
    [
        ("ar", "Please confirm the date.", "must be written in Arabic"),
        ("en", "يرجى تأكيد موعد التسليم", "must be written in English"),
    ],
)
def test_result_problems_check_the_language_asked_for(language, text, problem):
    result = reminder("sms", message_text=text)
    assert problem in result_problems(result, reminder_context(channel="sms", language=language))[0]


def test_result_problems_accept_arabic_with_english_names_and_numbers():
    result = reminder("sms", message_text="يرجى تأكيد موعد تسليم Lobby fit-out قبل 2026-02-01")
    assert result_problems(result, reminder_context(channel="sms", language="ar")) == []


def test_result_problems_check_the_deal_summary_length():
    result = DealSummaryResult(deal_id="1", summary="word " * 40, next_action="x", confidence=0.5,
                               source="llm")
    assert result_problems(result, summary_context(max_length=30)) == [
        "summary has 40 words; at most 30 were asked for."
    ]
