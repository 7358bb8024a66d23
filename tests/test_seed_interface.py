"""The architecture's published interface (../shared/SEED_INTERFACE.md), used as its reader would.

Each section of the sheet is walked in order: the four entry points, LLMClient, PromptRegistry,
WriterService, CashflowPredictionService and DeterministicRules. Inputs are built with the
documented names only, the documented methods are awaited from the caller's own event loop
(``asyncio.run``, as the examples do), and the documented result fields are read and checked
for sense. The whole walk runs twice: against the loopback OpenAI-compatible server, and
with the LLM off, where the writer falls back and the forecast uses the rules.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from core.cashflow import (
    AssumptionsReport,
    CashflowPredictionInput,
    DealForPrediction,
    DealPrediction,
    DeterministicRules,
    ForecastOptions,
    ForecastPeriod,
    ForecastTable,
    ForecastTotals,
    PredictionMetadata,
    PredictionOptions,
    get_cashflow_prediction_service,
)
from core.config import get_settings
from core.llm import (
    LLMError,
    LLMRateLimitError,
    LLMResponse,
    LLMUnavailableError,
    LLMValidationError,
    TokenUsage,
    get_llm_client,
)
from core.prompts import PromptRegistry, get_prompt_registry
from core.store import Store
from core.writer import (
    ComplianceContext,
    ComplianceResult,
    DealSummaryContext,
    DealSummaryResult,
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    NoteSummaryContext,
    NoteSummaryResult,
    OrderReceivedContext,
    OrderReceivedResult,
    ReminderDraftContext,
    get_writer_service,
)
from tests.cashflow.helpers import AS_OF, days_ago, deals, save
from tests.support.openai_server import Reply
from tests.writer.helpers import ANSWERS as WRITER_ANSWERS

LLM_ENV = ("DEALCAST_LLM_API_KEY", "OPENROUTER_API_KEY", "OPENAI_API_KEY", "DEALCAST_LLM_BASE_URL")
NOTES = [
    "Client approved the design on Sunday.",
    "Waiting for the client to hand over the site; blocked until the ceiling works finish.",
    "Omar will call Khalid to confirm the handover date.",
]

@functools.cache
def answers_by_model() -> dict[str, dict[str, Any]]:
    """What the loopback server answers: the writer tests' answer per prompt
    (tests/writer/helpers.py), by the output model the request's system prompt names."""
    registry = PromptRegistry()
    return {registry.get(prompt_id).output_model: reply for prompt_id, reply in WRITER_ANSWERS.items()}


def answer(body: dict[str, Any]) -> Reply:
    system = body["messages"][0]["content"].replace('": "', '":"')
    if '"title":"DatePredictions"' in system:
        user = body["messages"][-1]["content"]
        sent = user.split("<deals>", 1)[1].rsplit("</deals>", 1)[0].strip().splitlines()
        predictions = [
            {"deal_id": json.loads(line)["deal_id"], "predicted_invoice_date": "2026-04-15",
             "predicted_payment_date": None, "confidence": 0.75, "assumptions": [], "missing_fields": [],
             "reasoning": "The client confirmed the handover for early April."}
            for line in sent
        ]
        return Reply.json({"predictions": predictions})
    for model, reply in answers_by_model().items():
        if f'"title":"{model}"' in system:
            return Reply.json(reply)
    return Reply.text("ok")  # a plain completion


@pytest.fixture(scope="module")
def pipelines_database(tmp_path_factory) -> Path:
    """Two pipelines of deals in a database file, saved once; each test works on a copy."""
    path = tmp_path_factory.mktemp("seed") / "dealcast.duckdb"
    with Store(str(path)) as store:
        save(
            store,
            deals(
                {"pipeline": "Aramco Projects", "organization": "Saudi Aramco", "stage": "Approved",
                 "title": "Aramco HQ fit-out", "value": 250_000.0, "value_base": 250_000.0},
                {"pipeline": "Aramco Projects", "organization": "Saudi Aramco", "stage": "Design Review",
                 "title": "Aramco clinic", "value": 90_000.0, "value_base": 90_000.0},
                {"pipeline": "Aramco Projects", "organization": "Saudi Aramco", "stage": "Awaiting GR",
                 "stage_changed_at": days_ago(70), "title": "Aramco lobby"},
                {"pipeline": "Riyadh Offices", "stage": "Under Progress", "title": "Olaya tower"},
            ),
            AS_OF,
        )
    return path


@pytest.fixture(params=["llm on", "llm off"])
def llm_on(request, monkeypatch, tmp_path, openai_server, pipelines_database) -> bool:
    """Settings from the environment, as a user has them: a database file (a copy of
    ``pipelines_database``), the LLM on the loopback server or off (no key for the hosted
    default). Yields whether the LLM is on."""
    on = request.param == "llm on"
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "dealcast.duckdb"
    shutil.copyfile(pipelines_database, database)
    monkeypatch.setenv("DEALCAST_DB", str(database))
    if on:
        monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
        monkeypatch.setenv("DEALCAST_LLM_API_KEY", "seed-test-key")
        openai_server.responder = answer
    get_settings.cache_clear()
    yield on
    get_settings.cache_clear()


def written(result: BaseModel, on: bool) -> None:
    """The contract every writer result keeps: confidence in [0, 1]; the fallback says why."""
    assert 0.0 <= result.confidence <= 1.0
    if on:
        assert result.source == "llm" and result.confidence > 0
    else:
        assert (result.source, result.confidence) == ("fallback", 0.0)
        assert result.warnings and result.warnings[0].startswith("LLM off")


# -- Entry points ----------------------------------------------------------------------------


def test_entry_points_return_process_wide_instances(llm_on):
    for entry in (get_llm_client, get_prompt_registry, get_writer_service, get_cashflow_prediction_service):
        assert entry() is entry()


# -- LLMClient -----------------------------------------------------------------------------------


class DealGist(BaseModel):
    summary: str
    confidence: float


def test_llm_client_methods_and_metrics(llm_on, openai_server):
    assert issubclass(LLMRateLimitError, LLMError) and issubclass(LLMValidationError, LLMError)
    client = get_llm_client()
    client.reset_metrics()

    async def use() -> tuple[LLMResponse, DealGist, str]:
        reply = await client.generate_completion(system_prompt="Be brief.", user_prompt="Say hello")
        openai_server.script(Reply.json({"summary": "Site not ready.", "confidence": 0.7}, fenced=True))
        gist = await client.generate_structured_completion(DealGist, user_prompt="Summarise deal 42")
        stream = client.stream_completion(user_prompt="Stream hello", use_cache=False)
        chunks = [text async for text in stream]
        return reply, gist, "".join(chunks)

    if not llm_on:
        with pytest.raises(LLMUnavailableError):
            asyncio.run(use())
        assert client.get_metrics()["request_count"] == 0
        return
    reply, gist, streamed = asyncio.run(use())
    assert (reply.content, streamed) == ("ok", "ok")
    assert isinstance(reply.usage, TokenUsage) and reply.model
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert reply.usage.estimated_cost_usd is not None and reply.latency_ms >= 0
    assert gist == DealGist(summary="Site not ready.", confidence=0.7)  # the instance, out of its code fence
    metrics = client.get_metrics()
    assert metrics["request_count"] == 3 and metrics["total_tokens"] > 0 and "total_cost_usd" in metrics
    client.reset_metrics()
    assert client.get_metrics()["request_count"] == 0


# -- PromptRegistry ------------------------------------------------------------------------------


def test_prompt_registry_renders_with_the_documented_variable_names(llm_on):
    registry = get_prompt_registry()
    system, user = registry.render_prompt("deal.summarize.v1", {
        "deal_title": "Aramco HQ fit-out", "stage": "Approved", "owner_name": "Omar", "days_in_stage": 12,
        "notes": NOTES,
    })
    assert system and "Aramco HQ fit-out" in user and "Omar" in user and "ceiling works" in user
    config = registry.get_prompt_config("deal.summarize.v1")
    assert (config.tier, config.temperature, config.max_tokens) == ("balanced", 0.5, 500)


# -- WriterService ---------------------------------------------------------------------------------


def email_context() -> EmailDraftContext:
    return EmailDraftContext(
        recipients=["khalid@example.com"],
        subject_intent="confirm the site handover date",
        deal_contexts=[{"title": "Aramco HQ fit-out", "pipeline": "Aramco Projects", "stage": "Approved",
                        "issue": "site not handed over"}],
        tone="professional",
        language="en",
    )


def summary_context(deal_id: int = 1001, title: str = "Aramco HQ fit-out") -> DealSummaryContext:
    return DealSummaryContext(deal_id=deal_id, deal_title=title, stage="Approved", owner_name="Omar",
                              days_in_stage=12, notes=NOTES)


def test_writer_drafts_an_email_and_a_reminder(llm_on):
    writer = get_writer_service()

    async def draft() -> tuple[DraftEmailResult, DraftReminderResult]:
        email = await writer.draft_email(email_context())
        reminder = await writer.draft_reminder(
            ReminderDraftContext(deal_id=1001, deal_title="Aramco HQ fit-out", stage="Approved",
                                 context="the site handover date")
        )
        return email, reminder

    email, reminder = asyncio.run(draft())
    written(email, llm_on)
    assert email.subject.strip() and email.body.strip() and email.body_html
    assert isinstance(email.suggested_followups, list)
    assert "Aramco HQ fit-out" in email.subject + email.body or llm_on
    written(reminder, llm_on)
    assert reminder.message_text.strip() and reminder.short_version and len(reminder.short_version) <= 160
    assert isinstance(reminder.tags, list)


def test_writer_summarises_checks_and_batches(llm_on, openai_server):
    writer = get_writer_service()
    deal = {"deal_id": 1001, "deal_title": "Aramco HQ fit-out", "stage": "Order Received", "notes": NOTES}

    async def analyse():
        return (
            await writer.summarize_deal(summary_context()),
            await writer.analyze_compliance(ComplianceContext(**deal)),
            await writer.analyze_order_received(OrderReceivedContext(**deal)),
            await writer.summarize_notes(NoteSummaryContext(notes=NOTES)),
            await writer.batch_summarize_deals(
                [summary_context(1001 + i, f"Deal {i}") for i in range(3)], max_concurrent=2
            ),
        )

    summary, compliance, order, notes, batch = asyncio.run(analyse())
    assert isinstance(summary, DealSummaryResult)
    written(summary, llm_on)
    assert summary.deal_id == "1001" and summary.summary and summary.next_action
    assert summary.blockers  # the notes say the site is not handed over
    assert isinstance(summary.missing_info, list) and isinstance(summary.recommendations, list)
    assert isinstance(compliance, ComplianceResult)
    written(compliance, llm_on)
    assert compliance.status in ("complete", "incomplete", "not_checked") and compliance.missing_items
    assert isinstance(order, OrderReceivedResult)
    written(order, llm_on)
    assert isinstance(order.end_user_identified, bool)
    assert isinstance(notes, NoteSummaryResult)
    written(notes, llm_on)
    assert notes.summary and notes.action_items and isinstance(notes.owners, list)
    assert [result.deal_id for result in batch] == ["1001", "1002", "1003"]
    for result in batch:
        written(result, llm_on)
    if llm_on:
        assert get_llm_client().get_metrics()["request_count"] > 0


def test_writer_inputs_refuse_unknown_fields(llm_on):
    with pytest.raises(ValidationError, match="deal_titel"):
        DealSummaryContext(deal_id=1, deal_titel="Typo")
    with pytest.raises(ValidationError, match="isue"):
        EmailDraftContext(recipients=["a@example.com"], subject_intent="x",
                          deal_contexts=[{"title": "T", "isue": "x"}])


# -- CashflowPredictionService ---------------------------------------------------------------------


def test_predict_cashflow_for_a_pipeline_that_exists_and_one_that_does_not(llm_on):
    service = get_cashflow_prediction_service()
    options = PredictionOptions(use_llm=True, llm_policy="all")

    async def predict():
        return (
            await service.predict_cashflow(
                CashflowPredictionInput(pipeline_name="Aramco Projects", horizon_days=90, granularity="week")
            ),
            await service.predict_cashflow(
                CashflowPredictionInput(pipeline_name="Aramco Projects", horizon_days=90, granularity="week",
                                        options=options)
            ),
            await service.predict_cashflow(
                CashflowPredictionInput(pipeline_name="No Such Pipeline", horizon_days=90, granularity="week")
            ),
        )

    rules, refined, missing = asyncio.run(predict())
    for result in (rules, refined):
        assert isinstance(result.metadata, PredictionMetadata)
        assert result.metadata.deals_analyzed == 3  # the pipeline's deals, not the whole book
        assert 0.3 <= result.metadata.avg_confidence <= 0.95
        assert len(result.aggregated_forecast) == 13  # dense ISO weeks over 90 days
        assert sum(period.expected_invoice_value_sar for period in result.aggregated_forecast) > 0
        assert sum(period.deal_count for period in result.aggregated_forecast) > 0
        assert all(period.period.startswith("2026-W") for period in result.aggregated_forecast)
        assert [p.deal_title for p in result.per_deal_predictions] == [
            "Aramco HQ fit-out", "Aramco clinic", "Aramco lobby"]
        for prediction in result.per_deal_predictions:
            assert prediction.predicted_invoice_date > AS_OF
            assert prediction.predicted_payment_date > prediction.predicted_invoice_date
            assert 0.3 <= prediction.confidence <= 0.95 and prediction.reasoning
    assert {p.method for p in rules.per_deal_predictions} == {"rules"}
    if llm_on:
        assert {p.method for p in refined.per_deal_predictions} == {"llm"}
        assert refined.per_deal_predictions[0].predicted_invoice_date == dt.date(2026, 4, 15)
    else:
        assert {p.method for p in refined.per_deal_predictions} == {"rules"}
        assert any(w.startswith("LLM off") for w in refined.warnings)
    assert missing.aggregated_forecast == [] and missing.per_deal_predictions == []
    assert missing.metadata.deals_analyzed == 0
    assert any("No deal has pipeline 'No Such Pipeline'" in w for w in missing.warnings)


def test_deal_dates_forecast_table_and_assumptions(llm_on):
    service = get_cashflow_prediction_service()
    deals_in = [
        DealForPrediction(deal_id="A-1", deal_title="Aramco lobby", stage="Awaiting GCC", value=50_000.0),
        DealForPrediction(deal_id="A-2", deal_title="Aramco gate", stage="Approved", value=20_000.0),
    ]

    predictions = asyncio.run(service.predict_deal_dates(deals_in, PredictionOptions(), today=AS_OF))
    assert all(isinstance(p, DealPrediction) for p in predictions)
    assert [(p.deal_title, p.confidence) for p in predictions] == [
        ("Aramco lobby", 0.85), ("Aramco gate", 0.70)]
    table = service.generate_forecast_table(predictions, ForecastOptions(granularity="month"), today=AS_OF)
    assert isinstance(table, ForecastTable) and isinstance(table.totals, ForecastTotals)
    assert all(isinstance(row, ForecastPeriod) for row in table.rows)
    assert sum(row.expected_invoice_value_sar for row in table.rows) == table.totals.invoice_value == 70_000.0
    assert [row.period for row in table.rows] == ["2026-03", "2026-04", "2026-05"]  # 90 days from 2 March
    report = service.explain_assumptions(predictions)
    assert isinstance(report, AssumptionsReport)
    assert [d["deal_id"] for d in report.per_deal] == ["A-1", "A-2"] and report.global_assumptions


@pytest.mark.parametrize(
    "fields",
    [
        {"pipeline_name": "Aramco Projects", "horizon": 90},
        {"pipeline": "Aramco Projects"},
        {"granularity": "fortnight"},
    ],
)
def test_cashflow_input_refuses_unknown_or_invalid_fields(llm_on, fields):
    with pytest.raises(ValidationError):
        CashflowPredictionInput(**fields)


# -- DeterministicRules ----------------------------------------------------------------------------


def test_deterministic_rules_as_documented(llm_on):
    rules = DeterministicRules()
    today = AS_OF
    invoiced = DealForPrediction(deal_id="9", stage="Invoice Issued", stage_changed_at=days_ago(5))
    open_deal = DealForPrediction(deal_id="8", stage="Awaiting GR", stage_changed_at=days_ago(70))

    settled = rules.precheck_deal(invoiced, today)
    assert (settled.predicted_invoice_date, settled.confidence) == (days_ago(5), 0.95)
    assert rules.precheck_deal(open_deal, today) is None
    unsure = DealPrediction(deal_id="8", predicted_invoice_date=today + dt.timedelta(days=3), confidence=0.2)
    estimate = rules.apply_overrides(unsure, open_deal, today)
    # Stage estimate: 7 days + 14 stuck, and a late stage sets 0.85 after the stuck penalty.
    assert (estimate.predicted_invoice_date, estimate.confidence) == (today + dt.timedelta(days=21), 0.85)
    bad = DealPrediction(deal_id="8", predicted_invoice_date=today + dt.timedelta(days=400),
                         predicted_payment_date=today + dt.timedelta(days=390), confidence=0.8)
    warnings = rules.validate_prediction(bad, today)
    assert any("365 days" in w for w in warnings) and "payment date not after its invoice date" in warnings
    assert (rules.get_stage_estimate("Awaiting GR"), rules.get_stage_estimate("Design Review")) == (7, None)
