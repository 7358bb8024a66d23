"""Token usage and its cost in USD.

The cost is what the provider reports when it reports one (OpenRouter puts it in
``usage.cost``), else it is estimated from the price table in ``prices.toml``.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

PRICES_FILE = Path(__file__).with_name("prices.toml")
PER_MILLION = 1_000_000


class Usage(BaseModel):
    """Tokens one reply (or several added together) used, and what they cost."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class Price(BaseModel):
    """USD per million tokens for one model."""

    model_config = ConfigDict(frozen=True)

    input: float
    cached_input: float
    output: float


@functools.cache
def load_prices(path: Path = PRICES_FILE) -> dict[str, Price]:
    with path.open("rb") as handle:
        return {model: Price(**row) for model, row in tomllib.load(handle).items()}


def price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: exact id, id without ``provider/``, else the longest listed prefix."""
    bare = model.split("/", 1)[-1]
    for candidate in (model, bare):
        if candidate in prices:
            return prices[candidate]
    prefixes = [name for name in prices if bare.startswith(name)]
    return prices[max(prefixes, key=len)] if prefixes else None


def estimate_cost(model: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int,
                  prices: Mapping[str, Price] | None = None) -> float:
    """USD for these tokens at the table's prices; 0.0 for a model not in the table."""
    price = price_for(model, load_prices() if prices is None else prices)
    if price is None:
        return 0.0
    uncached = max(prompt_tokens - cached_tokens, 0)
    return (
        uncached * price.input + cached_tokens * price.cached_input + completion_tokens * price.output
    ) / PER_MILLION


def usage_from_payload(payload: Mapping[str, Any] | None, model: str) -> Usage:
    """Usage from an OpenAI-style ``usage`` object (``None`` when the server sent none)."""
    if not payload:
        return Usage()
    prompt = int(payload.get("prompt_tokens") or 0)
    completion = int(payload.get("completion_tokens") or 0)
    cached = int((payload.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reported_cost = payload.get("cost")
    cost = (
        float(reported_cost) if reported_cost is not None
        else estimate_cost(model, prompt, cached, completion)
    )
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        total_tokens=int(payload.get("total_tokens") or prompt + completion),
        cost_usd=cost,
    )
