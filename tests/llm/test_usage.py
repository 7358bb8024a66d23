"""Usage and cost: the provider's reported cost first, else the price table."""

from __future__ import annotations

import pytest

from core.llm import TokenUsage, Usage, format_cost
from core.llm.usage import Price, estimate_cost, load_prices, price_for, usage_from_payload

PRICES = {"gpt-4o": Price(input=2.5, cached_input=1.25, output=10), "gpt-4o-mini": Price(
    input=0.15, cached_input=0.075, output=0.6)}


def test_reported_cost_wins_over_the_price_table():
    payload = {"prompt_tokens": 1000, "completion_tokens": 10, "cost": 0.0123}
    usage = usage_from_payload(payload, "openai/gpt-4o")

    assert usage.cost_usd == 0.0123


def test_cost_is_estimated_from_the_table_with_cached_tokens_cheaper():
    usage = usage_from_payload(
        {"prompt_tokens": 1_000_000, "completion_tokens": 100_000, "total_tokens": 1_100_000,
         "prompt_tokens_details": {"cached_tokens": 400_000}},
        "openai/gpt-4o",
    )

    assert usage.cached_tokens == 400_000
    assert usage.cost_usd == pytest.approx(0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-4o", "gpt-4o"), ("openai/gpt-4o-mini", "gpt-4o-mini"), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
     ("gpt-4o-2024-08-06", "gpt-4o")],
)
def test_price_lookup_by_id_bare_id_or_longest_prefix(model, expected):
    assert price_for(model, PRICES) == PRICES[expected]


def test_unknown_models_have_an_unknown_cost_not_zero():
    assert estimate_cost("llama3.1:8b", 1000, 0, 1000) is None
    usage = usage_from_payload({"prompt_tokens": 10, "completion_tokens": 5}, "llama3.1:8b")
    assert usage.cost_usd is None and usage.total_tokens == 15
    assert (usage + Usage(cost_usd=0.5)).cost_usd is None  # a sum with an unknown part is unknown
    assert format_cost(usage.cost_usd) == "cost unknown"
    assert format_cost(0.25, unknown_calls=2) == "$0.2500 + cost unknown for 2 call(s)"


@pytest.mark.parametrize(
    ("model", "prompt", "completion", "expected"),
    [
        ("anthropic/claude-3.5-sonnet", 500, 300, 500 * 3 / 1e6 + 300 * 15 / 1e6),  # the seed's email draft
        ("claude-3-5-sonnet-20241022", 1500, 800, 1500 * 3 / 1e6 + 800 * 15 / 1e6),
        ("anthropic/claude-3-haiku", 1_000_000, 0, 0.25),
        ("anthropic/claude-3-opus", 0, 1_000_000, 75.0),
    ],
)
def test_the_seeds_documented_models_are_priced(model, prompt, completion, expected):
    assert estimate_cost(model, prompt, 0, completion) == pytest.approx(expected)


def test_token_usage_is_the_seeds_name_for_usage():
    assert TokenUsage is Usage
    assert Usage(cost_usd=0.1).estimated_cost_usd == 0.1


def test_the_shipped_price_table_loads():
    prices = load_prices()

    assert "gpt-4o-mini" in prices
    assert all(price.cached_input <= price.input for price in prices.values())


def test_usage_adds_up_field_by_field():
    one = Usage(prompt_tokens=1, completion_tokens=2, cached_tokens=0, total_tokens=3, cost_usd=0.5)
    two = Usage(prompt_tokens=10, completion_tokens=20, cached_tokens=5, total_tokens=30, cost_usd=0.25)

    assert one + two == Usage(
        prompt_tokens=11, completion_tokens=22, cached_tokens=5, total_tokens=33, cost_usd=0.75
    )


def test_missing_usage_is_zero():
    assert usage_from_payload(None, "m") == Usage()
