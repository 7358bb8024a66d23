"""Metrics, spans and log events of the API, and that no key or token leaks into any of them."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.cli import main
from core.monitoring import configure_logging
from core.monitoring.metrics import serve_metrics
from core.monitoring.tracing import tracing_wanted
from tests.api.conftest import API_TOKEN, LLM_KEY
from tests.ingest.exports import pipedrive_csv, pipedrive_row
from tests.support.openai_server import Reply
from tests.support.tracing import spans_in_memory
from tests.writer.helpers import ANSWERS, email_context


def samples(http: httpx.Client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, parsed with prometheus-client's own parser."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def observed():
    """Tracing into memory and JSON log events into a buffer, both undone afterwards."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    with spans_in_memory() as exporter:
        configure_logging("json", stream=buffer, force=True)
        yield exporter, buffer
        for handler in [h for h in root.handlers if h.get_name() == "dealcast"]:
            root.removeHandler(handler)
        root.setLevel(level)


def run_everything(api, openai_server) -> dict:
    """Forecast, upload, writer (LLM) and an error, with /metrics before and after."""
    openai_server.script(Reply.json(ANSWERS["email.followup"]))
    with api.client() as http:
        before = samples(http)
        assert http.post("/cashflow/predict", json={"include_deals": False}).status_code == 200
        rows = [pipedrive_row(1), pipedrive_row(2, Value="abc"), pipedrive_row(3)]
        upload = http.post("/snapshots", files={"file": ("deals.csv", pipedrive_csv(rows), "text/csv")})
        assert upload.status_code == 201
        email = http.post("/writer/draft-email", json=email_context().model_dump(mode="json"))
        assert email.json()["source"] == "llm"
        assert http.get("/snapshots/999/rejects").status_code == 404
        after = samples(http)
    return {"before": before, "after": after}


def test_metrics_move_as_calls_are_made(api, openai_server):
    found = run_everything(api, openai_server)
    before, after = found["before"], found["after"]

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("dealcast_http_requests_total", method="POST", route="/cashflow/predict", status="200") == 1
    assert moved("dealcast_http_requests_total", method="GET", route="/snapshots/{snapshot_id}/rejects",
                 status="404") == 1
    assert moved("dealcast_http_request_duration_seconds_count", method="POST", route="/snapshots") == 1
    assert moved("dealcast_forecast_runs_total", engine="rules", outcome="success") == 1
    assert moved("dealcast_forecast_duration_seconds_count", engine="rules") == 1
    assert moved("dealcast_ingest_rows_total", kind="deals", fate="read") == 3
    assert moved("dealcast_ingest_rows_total", kind="deals", fate="loaded") == 2
    assert moved("dealcast_ingest_rows_total", kind="deals", fate="rejected") == 1
    labels = next(
        dict(labels) for (name, labels) in after
        if name == "dealcast_llm_requests_total" and dict(labels)["prompt"] == "email.followup"
        and dict(labels)["outcome"] == "success"
    )
    assert moved("dealcast_llm_requests_total", **labels) == 1
    assert moved("dealcast_llm_tokens_total", model=labels["model"], kind="prompt") == 10
    assert moved("dealcast_llm_tokens_total", model=labels["model"], kind="completion") == 5
    assert moved("dealcast_llm_request_duration_seconds_count", model=labels["model"]) == 1
    assert value(after, "dealcast_llm_circuit_state", state="closed") == 1
    assert value(after, "dealcast_llm_circuit_state", state="open") == 0


def test_llm_cache_hits_are_counted(api, openai_server):
    openai_server.script(Reply.json(ANSWERS["email.followup"]))
    body = email_context().model_dump(mode="json")
    with api.client() as http:
        http.post("/writer/draft-email", json=body)
        before = samples(http)
        assert http.post("/writer/draft-email", json=body).json()["source"] == "llm"
        after = samples(http)
    models = {dict(labels)["model"] for (name, labels) in after if name == "dealcast_llm_cache_hits_total"}
    hits = {model: value(after, "dealcast_llm_cache_hits_total", model=model)
            - value(before, "dealcast_llm_cache_hits_total", model=model) for model in models}
    assert sum(hits.values()) == 1  # counters only grow: one model gained the one hit
    assert len(openai_server.requests) == 1


def test_spans_for_request_forecast_ingest_and_llm_call(api, openai_server, observed):
    exporter, _ = observed
    run_everything(api, openai_server)
    spans = exporter.get_finished_spans()
    by_name = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    request = by_name["POST /cashflow/predict"][0]
    assert request.attributes["http.response.status_code"] == 200
    (forecast,) = by_name["forecast"]
    assert forecast.parent.span_id == request.context.span_id
    assert forecast.attributes["engine"] == "rules" and forecast.attributes["deals"] > 100
    assert forecast.attributes["dealcast.duration_ms"] > 0
    (ingest,) = by_name["ingest"]
    assert ingest.attributes["dealcast.rows_rejected"] == 1
    (llm,) = by_name["llm.call"]
    assert llm.attributes["llm.prompt_id"] == "email.followup"
    assert llm.attributes["llm.prompt_version"]
    assert llm.attributes["llm.total_tokens"] == 15
    assert llm.parent.span_id == by_name["POST /writer/draft-email"][0].context.span_id
    http_spans = [s for s in spans if s.attributes.get("url.full", s.attributes.get("http.url", "")).endswith(
        "/chat/completions")]
    assert http_spans and all(s.parent.span_id == llm.context.span_id for s in http_spans)


def test_one_json_event_per_request_forecast_ingest_and_llm_call(api, openai_server, observed):
    _, buffer = observed
    run_everything(api, openai_server)
    events = [json.loads(line) for line in buffer.getvalue().splitlines()]
    names = [e["event"] for e in events]
    assert names.count("forecast") == 1 and names.count("ingest") == 1
    assert len([n for n in names if n.startswith("LLM request completed")]) == 1
    requests = [e for e in events if e["event"] == "api request"]
    assert {(e["route"], e["status"]) for e in requests} >= {("/cashflow/predict", 200), ("/snapshots", 201)}
    forecast = next(e for e in events if e["event"] == "forecast")
    assert forecast["engine"] == "rules" and forecast["outcome"] == "success" and forecast["duration_ms"] > 0
    ingest = next(e for e in events if e["event"] == "ingest")
    assert (ingest["rows_read"], ingest["rows_loaded"], ingest["rows_rejected"]) == (3, 2, 1)
    llm = next(e for e in events if e["event"].startswith("LLM request completed"))
    assert llm["prompt_id"] == "email.followup" and llm["total_tokens"] == 15 and llm["success"] == "true"
    for event in (forecast, ingest, llm, *requests):
        assert len(event["trace_id"]) == 32 and event["level"] in ("info", "warning")


def test_no_key_or_token_in_logs_spans_or_metrics(api, openai_server, observed):
    exporter, buffer = observed
    found = run_everything(api, openai_server)
    with api.client(token="wrong-" + API_TOKEN) as http:
        assert http.get("/snapshots").status_code == 401
    spans = json.dumps([json.loads(span.to_json()) for span in exporter.get_finished_spans()])
    for text in (buffer.getvalue(), spans, json.dumps([list(k) for k in found["after"]])):
        assert API_TOKEN not in text and LLM_KEY not in text
        assert "Could you confirm the date" not in text  # nor the model's text


def test_tracing_is_off_unless_the_standard_variables_ask():
    assert tracing_wanted({}) is None
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "otlp"}) == "otlp"
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}) is None
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None


def test_console_format_is_one_line_per_event():
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    configure_logging("console", stream=buffer, force=True)
    try:
        logging.getLogger("core.test").warning("disk nearly full", extra={"free_mb": 12})
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "dealcast"]:
            root.removeHandler(handler)
        root.setLevel(level)
    line = buffer.getvalue().strip()
    assert "disk nearly full" in line and "free_mb=12" in line and not line.startswith("{")


def test_serve_refuses_a_public_address_without_tokens(monkeypatch, capsys):
    monkeypatch.delenv("DEALCAST_API_TOKENS", raising=False)
    from core.config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["serve", "--host", "0.0.0.0"]) == 2
    finally:
        get_settings.cache_clear()
    assert "Refusing to listen on 0.0.0.0 without DEALCAST_API_TOKENS" in capsys.readouterr().err


def test_dashboard_metrics_port_serves_the_same_registry():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve_metrics(port)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"dealcast_llm_requests", "dealcast_forecast_runs", "dealcast_http_requests"} <= names
