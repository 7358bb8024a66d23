"""Contexts and results: what they accept, what they refuse, how notes are read."""

import datetime as dt

import pytest
from pydantic import ValidationError

from core.writer.models import (
    DealHealthResult,
    DealSummaryContext,
    DraftReminderResult,
    EmailDraftContext,
    HealthStatus,
    Note,
    NoteSummaryContext,
    ReminderDraftContext,
    parse_notes,
)


def test_parse_notes_reads_dates_and_authors_in_the_usual_shapes():
    notes = parse_notes(
        "2026-01-10 Sara: Site survey done.\n"
        "[2026-01-12] (Omar) Client asked for a new finish.\n"
        "2026-01-15 - Waiting for the PO\n"
        "\n"
        "Call back next week"
    )
    assert notes == [
        Note(text="Site survey done.", date=dt.date(2026, 1, 10), author="Sara"),
        Note(text="Client asked for a new finish.", date=dt.date(2026, 1, 12), author="Omar"),
        Note(text="Waiting for the PO", date=dt.date(2026, 1, 15)),
        Note(text="Call back next week"),
    ]


def test_parse_notes_keeps_a_line_with_an_impossible_date_as_text():
    assert parse_notes("2026-02-31 Sara: hello") == [Note(text="2026-02-31 Sara: hello")]


def test_parse_notes_of_nothing_is_empty():
    assert parse_notes(None) == []
    assert parse_notes("  \n \n") == []


def test_context_takes_notes_as_the_crm_text_column_or_a_list():
    from_text = DealSummaryContext(deal_id="1", title="Lobby", notes="2026-01-10 Sara: done")
    mixed = ["done", {"text": "x", "author": "Omar"}]
    from_list = DealSummaryContext(deal_id="1", title="Lobby", notes=mixed)
    assert from_text.notes[0].author == "Sara"
    assert [note.text for note in from_list.notes] == ["done", "x"]


def test_context_turns_a_numeric_deal_id_into_a_string():
    assert DealSummaryContext(deal_id=1234, title="Lobby").deal_id == "1234"


def test_context_rejects_an_unknown_field_so_a_typo_in_a_file_is_caught():
    with pytest.raises(ValidationError, match="max_note"):
        DealSummaryContext(deal_id="1", title="Lobby", max_note=3)


@pytest.mark.parametrize("field, value", [("channel", "fax"), ("urgency", "whenever"), ("language", "fr")])
def test_reminder_context_rejects_values_outside_its_options(field, value):
    with pytest.raises(ValidationError, match=field):
        ReminderDraftContext(deal_id="1", deal_title="Lobby", **{field: value})


def test_email_context_needs_a_recipient_and_a_deal():
    with pytest.raises(ValidationError) as info:
        EmailDraftContext(recipients=[], subject_intent="payment", deal_contexts=[])
    fields = {error["loc"][0] for error in info.value.errors()}
    assert fields == {"recipients", "deal_contexts"}


def test_note_summary_context_needs_notes():
    with pytest.raises(ValidationError, match="notes"):
        NoteSummaryContext(notes="")


@pytest.mark.parametrize("confidence", [-0.1, 1.01])
def test_result_refuses_confidence_outside_zero_to_one(confidence):
    with pytest.raises(ValidationError, match="confidence"):
        DraftReminderResult(
            deal_id="1", channel="sms", message_text="hi", confidence=confidence, source="llm"
        )


def test_health_result_refuses_a_status_outside_the_enum():
    with pytest.raises(ValidationError, match="health_status"):
        DealHealthResult(deal_id="1", health_status="fine", status_flag="x", summary="s",
                         confidence=0.5, source="llm")
    assert {status.value for status in HealthStatus} == {"healthy", "at_risk", "critical"}


def test_writer_package_exports_every_model_class():
    import core.writer
    from core.writer import models

    defined = {
        name for name, value in vars(models).items()
        if isinstance(value, type) and value.__module__ == models.__name__ and not name.startswith("_")
    }
    assert defined <= set(core.writer.__all__)
    assert all(hasattr(core.writer, name) for name in core.writer.__all__)
