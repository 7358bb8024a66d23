"""What every call leaves behind: an llm_calls row, metrics, one structured log line."""

from __future__ import annotations

import contextlib
import logging

from core.cli.llm import format_status
from core.llm import LLMStatusError, RetryPolicy, llm_status
from core.llm.metrics import _percentile
from tests.llm.helpers import run
from tests.support.openai_server import Reply


def test_each_call_writes_one_llm_calls_row_with_its_prompt_and_usage(make_client, openai_server, store):
    openai_server.script(
        Reply.text("a", usage={"prompt_tokens": 100, "completion_tokens": 20, "cost": 0.002}),
        Reply.error(400, "bad"),
    )
    client = make_client(store=store, retry=RetryPolicy(max_retries=0))

    async def calls(c):
        await c.generate_completion(
            user_prompt="x", tier="fast", prompt_id="reminder.sms", prompt_version="v1", variant="B"
        )
        with contextlib.suppress(LLMStatusError):
            await c.generate_completion(user_prompt="y", prompt_id="deal.summarize")

    run(client, calls)

    rows = store.query_df(
        "SELECT prompt_id, prompt_version, variant, tier, status, attempts, prompt_tokens, "
        "completion_tokens, total_tokens, cost_usd, error_type, cache_hit, request_id "
        "FROM llm_calls ORDER BY ts"
    ).astype(object).where(lambda frame: frame.notna(), None).values.tolist()
    assert rows == [
        ["reminder.sms", "v1", "B", "fast", "success", 1, 100, 20, 120, 0.002, None, False,
         "chatcmpl-test-1"],
        ["deal.summarize", None, None, "balanced", "failure", 1, 0, 0, 0, 0.0, "LLMStatusError", False, None],
    ]


def test_metrics_sum_calls_by_model_and_by_prompt_and_reset(make_client, openai_server):
    client = make_client()

    async def calls(c):
        await c.generate_completion(user_prompt="1", tier="fast", prompt_id="p1")
        await c.generate_completion(user_prompt="2", tier="advanced", prompt_id="p1")
        await c.generate_completion(user_prompt="3", tier="advanced")

    run(client, calls)
    metrics = client.get_metrics()

    assert (metrics["request_count"], metrics["success_count"], metrics["failure_count"]) == (3, 3, 0)
    assert (metrics["prompt_tokens"], metrics["completion_tokens"], metrics["total_tokens"]) == (30, 15, 45)
    assert metrics["total_cost_usd"] > 0
    assert metrics["by_model"][client.models["advanced"]]["request_count"] == 2
    assert metrics["by_prompt"] == {
        "p1": {**metrics["by_prompt"]["p1"], "request_count": 2},
        "(none)": {**metrics["by_prompt"]["(none)"], "request_count": 1},
    }
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"]

    client.reset_metrics()

    assert client.get_metrics()["request_count"] == 0
    assert client.get_metrics()["by_model"] == {}


def test_a_completed_call_logs_one_key_value_line(make_client, openai_server, caplog):
    caplog.set_level(logging.INFO, logger="core.llm")

    run(make_client(), lambda c: c.generate_completion(user_prompt="secret prompt text", prompt_id="p"))

    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LLM request completed")]
    expected = ("model=", "prompt_tokens=10", "completion_tokens=5", "total_tokens=15",
                "estimated_cost_usd=", "response_time_ms=", "success=true", "prompt_id=p")
    for field in expected:
        assert field in line
    assert "secret prompt text" not in caplog.text  # prompt text only at DEBUG


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]

    assert (_percentile(values, 50), _percentile(values, 95), _percentile([], 50)) == (50.0, 95.0, 0.0)


def test_a_model_without_a_price_is_recorded_as_cost_unknown(make_client, openai_server, store, caplog):
    openai_server.script(Reply.text("a", model="llama3.1:8b"))
    client = make_client(store=store, models=dict.fromkeys(("fast", "balanced", "advanced"), "llama3.1:8b"))

    with caplog.at_level(logging.INFO, logger="core.llm"):
        response = run(client, lambda c: c.generate_completion(user_prompt="x"))

    assert response.usage.cost_usd is None
    assert store.query_df("SELECT cost_usd FROM llm_calls")["cost_usd"].isna().all()
    metrics = client.get_metrics()
    assert (metrics["total_cost_usd"], metrics["cost_unknown_count"]) == (0.0, 1)
    assert "estimated_cost_usd=unknown" in caplog.text
    assert "cost unknown for 1 call(s)" in format_status(llm_status(client, store))
