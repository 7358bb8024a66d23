"""LLM usage page: the empty state, and figures that equal what the llm_calls table holds."""

from __future__ import annotations

import datetime as dt

from core.config import get_settings
from core.llm import CircuitBreaker, LLMClient
from core.llm.calllog import CallRecord, write_call
from core.llm.circuit_record import save_circuit

START = dt.datetime(2026, 10, 20, 9, 0)


def log_call(store, minutes: int, *, model: str = "openai/gpt-4o-mini", prompt: str | None = "deal.summarize",
             status: str = "success", error: str | None = None, cache_hit: bool = False,
             tokens: tuple[int, int] = (100, 40), cost: float = 0.002, latency: float = 800.0) -> None:
    write_call(store, CallRecord(
        ts=START + dt.timedelta(minutes=minutes), prompt_id=prompt, prompt_version="v1", variant=None,
        model=model, tier="balanced", status=status, attempts=0 if cache_hit else 1,
        prompt_tokens=tokens[0], completion_tokens=tokens[1], cached_tokens=0,
        total_tokens=sum(tokens), cost_usd=cost, latency_ms=latency, error_type=error,
        cache_hit=cache_hit, request_id=None,
    ))


def log_sample_calls(store) -> None:
    log_call(store, 0, latency=1200.0)
    log_call(store, 5, latency=0.0, cache_hit=True, cost=0.0)
    log_call(store, 70, model="openai/gpt-4o", prompt="email.followup", tokens=(300, 120), cost=0.01)
    log_call(store, 75, status="failure", error="LLMTimeoutError", tokens=(0, 0), cost=0.0, latency=60000.0)
    log_call(store, 80, prompt=None, status="failure", error="LLMRateLimitError", tokens=(0, 0), cost=0.0)


def metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def table_figures(store, where: str = "TRUE") -> tuple:
    return store.cursor().execute(
        f"SELECT count(*), count(*) FILTER (WHERE status <> 'success'), sum(total_tokens), sum(cost_usd), "
        f"count(*) FILTER (WHERE cache_hit) FROM llm_calls WHERE {where}"
    ).fetchone()


def test_llm_usage_without_calls_says_how_to_turn_the_llm_on(sample_store, open_page):
    at = open_page("llm_usage")

    text = " ".join(info.value for info in at.info)
    assert "No LLM calls logged yet" in text
    assert "DEALCAST_LLM_API_KEY" in text and "DEALCAST_LLM_BASE_URL" in text
    assert "circuit closed ·" in " ".join(caption.value for caption in at.caption)
    assert not at.metric


def test_llm_usage_figures_equal_the_call_log(sample_store, open_page):
    log_sample_calls(sample_store)

    at = open_page("llm_usage")

    calls, failures, tokens, cost, cache_hits = table_figures(sample_store)
    shown = metrics(at)
    assert shown["Calls"] == f"{calls:,}" == "5"
    assert shown["Failed"] == f"{failures:,}" == "2"
    assert shown["Tokens"] == f"{tokens:,}"
    assert shown["Cost (USD)"] == f"${cost:,.4f}"
    assert shown["Cache hit rate"] == f"{cache_hits / calls:.0%}"
    # Nearest rank over the five latencies 0, 800, 800, 1200, 60000.
    assert (shown["Latency p50"], shown["Latency p95"]) == ("800 ms", "60,000 ms")
    assert len(at.get("plotly_chart")) == 3
    by_model = at.dataframe[0].value
    assert by_model.set_index("model")["calls"].to_dict() == {"openai/gpt-4o-mini": 4, "openai/gpt-4o": 1}


def test_llm_usage_filters_by_model_and_prompt(sample_store, open_page):
    log_sample_calls(sample_store)
    at = open_page("llm_usage")
    assert at.multiselect(key="prompts").options == ["(none)", "deal.summarize", "email.followup"]

    at.multiselect(key="models").set_value(["openai/gpt-4o-mini"]).run()
    calls, failures, tokens, _, _ = table_figures(sample_store, "model = 'openai/gpt-4o-mini'")
    assert (metrics(at)["Calls"], metrics(at)["Failed"], metrics(at)["Tokens"]) == (
        f"{calls}", f"{failures}", f"{tokens:,}")

    at.multiselect(key="prompts").set_value(["(none)"]).run()
    assert metrics(at)["Calls"] == "1"
    assert list(at.dataframe[1].value["prompt"]) == ["(none)"]

    at.multiselect(key="prompts").set_value(["email.followup"]).run()
    assert metrics(at)["Calls"] == "0"
    assert "No calls match these filters" in " ".join(info.value for info in at.info)


def test_llm_usage_shows_cost_unknown_not_zero_for_unpriced_models(sample_store, open_page):
    log_call(sample_store, 0, model="llama3.1:8b", cost=None)

    at = open_page("llm_usage")

    assert metrics(at)["Cost (USD)"] == "cost unknown"
    log_call(sample_store, 1, cost=0.002)
    assert metrics(open_page("llm_usage"))["Cost (USD)"] == "$0.0020"


def test_llm_usage_shows_a_circuit_another_process_opened_with_its_age(sample_store, open_page):
    opened = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)
    breaker = CircuitBreaker(clock=opened.timestamp)
    for _ in range(5):
        breaker.record_failure()
    save_circuit(sample_store, LLMClient(get_settings()).base_url, breaker, opened.timestamp())

    at = open_page("llm_usage")

    caption = " ".join(caption.value for caption in at.caption)
    assert f"circuit open since {opened:%Y-%m-%d %H:%M:%S} UTC (" in caption
    assert "after 5 failed attempts; a probe may go out at" in caption
