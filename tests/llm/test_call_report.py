"""The usage report over llm_calls: totals, percentiles, time buckets, errors, filters."""

from __future__ import annotations

import datetime as dt

import pytest

from core.llm.call_report import call_filters, usage_report
from core.llm.calllog import CallRecord, write_call
from core.llm.metrics import Metrics

START = dt.datetime(2026, 3, 1, 8, 0)


def record(minutes: float, *, model: str = "m-small", prompt: str | None = "deal.summarize",
           status: str = "success", error: str | None = None, cache_hit: bool = False,
           tokens: tuple[int, int] = (10, 5), cost: float = 0.001, latency: float = 100.0) -> CallRecord:
    return CallRecord(
        ts=START + dt.timedelta(minutes=minutes), prompt_id=prompt, prompt_version="v1", variant=None,
        model=model, tier="fast", status=status, attempts=1, prompt_tokens=tokens[0],
        completion_tokens=tokens[1], cached_tokens=0, total_tokens=sum(tokens), cost_usd=cost,
        latency_ms=latency, error_type=error, cache_hit=cache_hit, request_id=None,
    )


def log(store, *records: CallRecord) -> None:
    for call in records:
        write_call(store, call)


def test_usage_report_of_an_empty_log_is_empty(store):
    report = usage_report(store)

    assert report.empty
    assert report.totals["calls"] == 0 and report.totals["cache_hit_rate"] is None
    assert report.totals["latency_p50_ms"] is None and report.totals["first_call_at"] is None
    assert report.over_time.empty and report.errors.empty and report.by_model.empty
    assert call_filters(store) == ([], [])


def test_usage_report_totals_add_up_every_call(store):
    log(store,
        record(0, tokens=(100, 50), cost=0.01),
        record(1, cache_hit=True, cost=0.0, latency=0.0),
        record(2, status="failure", error="LLMTimeoutError", tokens=(0, 0), cost=0.0))

    totals = usage_report(store).totals

    assert (totals["calls"], totals["successes"], totals["failures"], totals["cache_hits"]) == (3, 2, 1, 1)
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["total_tokens"]) == (110, 55, 165)
    assert totals["cost_usd"] == pytest.approx(0.01)
    assert totals["cache_hit_rate"] == pytest.approx(1 / 3)
    assert (totals["first_call_at"], totals["last_call_at"]) == (START, START + dt.timedelta(minutes=2))


@pytest.mark.parametrize(
    "latencies", [[5.0], [300.0, 100.0], [float(n) for n in range(1, 21)], [7.0, 7.0, 1.0]]
)
def test_usage_report_latency_percentiles_match_the_in_process_metrics(store, latencies):
    calls = [record(minute, latency=latency) for minute, latency in enumerate(latencies)]
    log(store, *calls)
    metrics = Metrics()
    for call in calls:
        metrics.record(call)

    totals = usage_report(store).totals

    expected = metrics.snapshot()
    assert (totals["latency_p50_ms"], totals["latency_p95_ms"]) == (
        expected["latency_p50_ms"], expected["latency_p95_ms"])


def test_usage_report_counts_per_hour_within_two_days_and_per_day_beyond(store):
    log(store, record(0), record(10), record(61))
    hourly = usage_report(store)
    assert hourly.granularity == "hour"
    assert hourly.over_time["calls"].tolist() == [2, 1]

    log(store, record(3 * 24 * 60))
    daily = usage_report(store)
    assert daily.granularity == "day"
    assert daily.over_time["calls"].tolist() == [3, 1]
    assert daily.over_time["period"].iloc[0] == dt.datetime(2026, 3, 1)


def test_usage_report_groups_errors_by_type_most_frequent_first(store):
    log(store,
        record(0, status="failure", error="LLMRateLimitError"),
        record(1, status="failure", error="LLMTimeoutError"),
        record(2, status="failure", error="LLMTimeoutError"),
        record(3))

    errors = usage_report(store).errors

    rows = list(errors.itertuples(index=False, name=None))
    assert rows == [("LLMTimeoutError", 2), ("LLMRateLimitError", 1)]


def test_usage_report_filters_by_model_and_prompt_including_calls_without_a_prompt(store):
    log(store,
        record(0, model="m-small", prompt="deal.summarize", tokens=(1, 1)),
        record(1, model="m-large", prompt="deal.summarize", tokens=(10, 10)),
        record(2, model="m-large", prompt=None, tokens=(100, 100)))

    assert call_filters(store) == (["m-large", "m-small"], ["(none)", "deal.summarize"])
    assert usage_report(store, models=["m-large"]).totals["total_tokens"] == 220
    assert usage_report(store, prompts=["(none)"]).totals["total_tokens"] == 200
    assert usage_report(store, models=["m-small"], prompts=["(none)"]).empty
    by_prompt = usage_report(store).by_prompt.set_index("prompt")["calls"].to_dict()
    assert by_prompt == {"deal.summarize": 2, "(none)": 1}
    by_model = usage_report(store, prompts=["deal.summarize"]).by_model.set_index("model")["total_tokens"]
    assert by_model.to_dict() == {"m-large": 20, "m-small": 2}
