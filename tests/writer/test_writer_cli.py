"""``python -m core write``: contexts from stored deals or files, with and without the local LLM."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from core.cli import EXIT_BAD_INPUT, main
from core.config import get_settings
from core.deals import conform
from core.store import NewSnapshot, Store
from core.writer.models import StageChange
from core.writer.records import build_context, load_deal
from tests.support.openai_server import Reply
from tests.writer.helpers import ANSWERS, SECRET_KEY, sent_text

NOTES = (
    "2026-01-05 Sara: Site survey done, checklist attached.\n"
    "2026-01-12 Omar: Waiting for the client to confirm site readiness.\n"
    "2026-01-14 Omar: Omar will call Khalid on Sunday."
)


def deal_rows(stage: str, stage_changed_at: str) -> pd.DataFrame:
    return conform(pd.DataFrame([
        {"deal_id": "4821", "title": "Lobby fit-out", "stage": stage, "status": "open", "value": 120000.0,
         "currency": "SAR", "owner": "Omar", "organization": "Al Noor", "contact": "Khalid",
         "created_at": "2025-12-01", "stage_changed_at": stage_changed_at, "updated_at": "2026-01-20",
         "notes": NOTES, "extra": json.dumps({"PO number": "", "Survey form": "yes"})},
        {"deal_id": "4822", "title": "Villa joinery", "stage": "Awaiting GR", "status": "open",
         "created_at": "2026-01-01"},
    ]))


def save_deals(db_path: str) -> str:
    """Two snapshots: deal 4821 moves from Approved to Awaiting Site Readiness."""
    with Store(db_path) as store:
        for as_of, stage, changed in ((dt.date(2026, 1, 5), "Approved", "2026-01-02"),
                                      (dt.date(2026, 1, 25), "Awaiting Site Readiness", "2026-01-10")):
            snapshot = NewSnapshot(as_of=as_of, source="pipedrive", file_name="deals.csv", sha256=str(as_of),
                                   rows_read=2)
            store.save_snapshot(snapshot, deal_rows(stage, changed),
                                pd.DataFrame(columns=["row_number", "raw", "reason"]), b"raw")
    return db_path


@pytest.fixture(scope="module")
def deals_db(tmp_path_factory):
    """The two snapshots, shared by the tests that only read them (the LLM is off there, so
    nothing is logged or cached)."""
    return save_deals(str(tmp_path_factory.mktemp("writer-cli") / "deals.duckdb"))


@pytest.fixture
def fresh_deals_db(db_path):
    """The two snapshots in the test's own database, for tests whose LLM calls are logged."""
    return save_deals(db_path)


@pytest.fixture
def llm_off(monkeypatch):
    for name in ("DEALCAST_LLM_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEALCAST_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def llm_on(monkeypatch, llm_server):
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("DEALCAST_LLM_API_KEY", SECRET_KEY)
    get_settings.cache_clear()
    yield llm_server
    get_settings.cache_clear()


def write(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["write", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_load_deal_counts_days_to_the_snapshot_as_of_and_keeps_history(deals_db):
    with Store(deals_db) as store:
        latest = load_deal(store, "4821")
        first = load_deal(store, "4821", 1)
    assert (latest.as_of, latest.days_in_stage, latest.days_since_last_note) == (dt.date(2026, 1, 25), 15, 11)
    assert (first.days_in_stage, first.days_since_last_note) == (3, 0)
    assert latest.stage_history == [
        StageChange(stage="Approved", entered_at=dt.date(2026, 1, 5)),
        StageChange(stage="Awaiting Site Readiness", entered_at=dt.date(2026, 1, 10)),
    ]
    assert latest.custom_fields == {"PO number": "", "Survey form": "yes"}
    assert [note.author for note in latest.notes] == ["Sara", "Omar", "Omar"]


def test_build_context_takes_the_deal_facts_and_options_on_top(deals_db):
    with Store(deals_db) as store:
        record = load_deal(store, "4821")
    context = build_context("reminder", record, {"channel": "sms", "urgency": "high"})
    assert (context.deal_title, context.recipient_name, context.channel, context.urgency) == (
        "Lobby fit-out", "Khalid", "sms", "high")
    health = build_context("health", record, {})
    assert (health.days_in_stage, health.days_since_last_note, health.last_activity) == (
        15, 11, dt.date(2026, 1, 20))


@pytest.mark.parametrize(
    "action, expected",
    [
        ("summarize", "Summary: Lobby fit-out is in Awaiting Site Readiness for 15 days, owned by Omar."),
        ("compliance", "Survey checklist present: True"),
        ("order", "End user identified: False"),
        ("health", "Health status: at_risk"),
        ("email", "Subject: The next step and its date: Lobby fit-out"),
        ("reminder", "Message text: Hello Khalid, a reminder about Lobby fit-out (Awaiting Site Readiness)."),
        ("notes", "Action items:\n  - Omar will call Khalid on Sunday."),
    ],
)
def test_write_without_an_llm_prints_the_fallback_and_warns(action, expected, deals_db, llm_off, capsys):
    status, out, err = write(capsys, action, "--deal", "4821", "--db", deals_db)
    assert status == 0
    assert out.startswith("[fallback, confidence 0.00, en]\n")
    assert expected in out
    assert err.startswith("warning: LLM off: No API key is set")


def test_write_json_is_the_result_model(deals_db, llm_off, capsys):
    status, out, _ = write(capsys, "reminder", "--deal", "4821", "--channel", "sms", "--urgency", "critical",
                           "--json", "--db", deals_db)
    result = json.loads(out)
    assert status == 0
    assert (result["deal_id"], result["channel"], result["source"]) == ("4821", "sms", "fallback")
    assert result["message_text"].startswith("URGENT: ") and len(result["message_text"]) <= 160


def test_write_reads_an_earlier_snapshot(deals_db, llm_off, capsys):
    _, out, _ = write(capsys, "health", "--deal", "4821", "--snapshot", "1", "--json", "--db", deals_db)
    result = json.loads(out)
    assert (result["days_in_stage"], result["stage_threshold"]) == (3, {"warning": 5, "critical": 10})


def test_write_email_covers_several_deals(deals_db, llm_off, capsys):
    _, out, _ = write(capsys, "email", "--deal", "4821", "--deal", "4822", "--to", "Faisal", "--json",
                      "--db", deals_db)
    result = json.loads(out)
    assert result["deal_ids"] == ["4821", "4822"]
    assert result["body"].startswith("Dear Faisal,")


def test_write_from_a_context_file_with_flags_on_top(tmp_path, db_path, llm_off, capsys):
    context = tmp_path / "notes.json"
    context.write_text(json.dumps({"notes": ["Sara will send the BOQ on Thursday.", "Site is ready."],
                                   "format": "bullets"}), encoding="utf-8")
    _, out, _ = write(capsys, "notes", "--context", str(context), "--format", "paragraph", "--json",
                      "--db", db_path)
    result = json.loads(out)
    assert result["format"] == "paragraph"
    assert result["summary"] == "Sara will send the BOQ on Thursday. Site is ready."


@pytest.mark.parametrize(
    "args, message",
    [
        (["summarize", "--deal", "999"], "No deal '999' in snapshot 2 (as of 2026-01-25)."),
        (["summarize"], "Give --deal ID (from a stored snapshot) or --context FILE.json."),
        (["compliance", "--deal", "4821", "--deal", "4822"], "takes one --deal"),
        (["summarize", "--deal", "4821", "--deal", "4822", "--stream"], "neither --context nor --stream"),
        (["notes", "--deal", "4822"], "notes context: notes: List should have at least 1 item"),
        (["summarize", "--deal", "4821", "--snapshot", "7"], "No snapshot with id 7."),
        (["email", "--deal", "4821", "--stream", "--json"], "cannot be combined with --json"),
    ],
)
def test_write_bad_input_exits_2_with_the_reason(args, message, deals_db, llm_off, capsys):
    status, out, err = write(capsys, *args, "--db", deals_db)
    assert status == EXIT_BAD_INPUT and out == ""
    assert message in err


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object"),
     ('{"notes": ["x"], "max_lenght": 3}', "max_lenght: Extra inputs are not permitted")],
)
def test_write_bad_context_file_exits_2(content, message, tmp_path, db_path, llm_off, capsys):
    context = tmp_path / "context.json"
    context.write_text(content, encoding="utf-8")
    status, _, err = write(capsys, "notes", "--context", str(context), "--db", db_path)
    assert status == EXIT_BAD_INPUT and message in err


def test_write_with_the_llm_prints_its_answer_and_sends_the_flags(fresh_deals_db, llm_on, capsys):
    status, out, err = write(capsys, "summarize", "--deal", "4821", "--tone", "firm", "--language", "en",
                             "--no-blockers", "--json", "--db", fresh_deals_db)
    result = json.loads(out)
    assert status == 0 and err == ""
    assert (result["source"], result["deal_id"], result["blockers"]) == ("llm", "4821", [])
    assert result["summary"] == ANSWERS["deal.summarize"]["summary"]
    sent = sent_text(llm_on.requests[0])
    assert "Use a firm tone" in sent and "Blockers were not requested" in sent
    assert "Days in stage: 15" in sent
    assert SECRET_KEY not in out + err


def test_write_with_the_llm_streams_the_email_body(fresh_deals_db, llm_on, capsys):
    llm_on.script(Reply.json(ANSWERS["email.followup"]))  # a stream carries no schema to answer by
    status, out, _ = write(capsys, "email", "--deal", "4821", "--stream", "--db", fresh_deals_db)
    assert status == 0
    assert out == ANSWERS["email.followup"]["body"] + "\n"
    assert llm_on.requests[0].body["stream"] is True


def test_write_with_the_llm_logs_the_call_in_the_given_database(fresh_deals_db, llm_on, capsys):
    write(capsys, "reminder", "--deal", "4821", "--channel", "whatsapp", "--db", fresh_deals_db)
    with Store(fresh_deals_db) as store:
        calls = store.cursor().execute("SELECT prompt_id, status FROM llm_calls").fetchall()
        outcomes = store.cursor().execute("SELECT prompt_id, success FROM prompt_outcomes").fetchall()
    assert [prompt_id for prompt_id, _ in calls] == ["reminder.whatsapp"]
    assert outcomes == [("reminder.whatsapp", True)]


def test_write_summarize_several_deals_keeps_input_order_and_reports_each_failure(deals_db, llm_off, capsys):
    status, out, err = write(capsys, "summarize", "--deal", "4822", "--deal", "999", "--deal", "4821",
                             "--max-concurrent", "2", "--db", deals_db)
    assert status == 1  # one item failed; the others still printed
    assert [line for line in out.splitlines() if line.startswith("== ")] == [
        "== deal 4822 ==", "== deal 999 ==", "== deal 4821 =="]
    assert "error: No deal '999' in snapshot 2" in out
    assert "Summary: Lobby fit-out is in Awaiting Site Readiness" in out
    assert "error: deal 999: No deal '999'" in err


def test_write_summarize_several_deals_with_the_llm_as_json(fresh_deals_db, llm_on, capsys):
    status, out, _ = write(capsys, "summarize", "--deal", "4821", "--deal", "4822", "--json",
                           "--db", fresh_deals_db)
    items = json.loads(out)
    assert status == 0
    assert [(item["deal_id"], item["result"]["deal_id"], item["result"]["source"], item["error"])
            for item in items] == [("4821", "4821", "llm", None), ("4822", "4822", "llm", None)]
    assert len(llm_on.requests) == 2


def test_write_summarize_max_concurrent_below_one_is_a_usage_error(deals_db, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["write", "summarize", "--deal", "4821", "--deal", "4822", "--max-concurrent", "0"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "--max-concurrent: must be at least 1" in capsys.readouterr().err
