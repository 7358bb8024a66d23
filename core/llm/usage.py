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
    """Tokens one reply (or several added together) used, and what they cost.

    ``cost_usd`` is None when the cost is unknown: the server reported none and the model
    is not in the price table. That is shown as "cost unknown", never as $0.
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0

    def __add__(self, other: Usage) -> Usage:
        tokens = {name: getattr(self, name) + getattr(other, name) for name in _TOKEN_FIELDS}
        unknown = self.cost_usd is None or other.cost_usd is None
        return Usage(**tokens, cost_usd=None if unknown else self.cost_usd + other.cost_usd)

    @property
    def estimated_cost_usd(self) -> float | None:
        """The seed's name for ``cost_usd``."""
        return self.cost_usd


_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens")

#: The seed's name for ``Usage``: the same class.
TokenUsage = Usage


def format_cost(cost_usd: float | None, unknown_calls: int = 0) -> str:
    """``$0.0123``; "cost unknown" for an unknown cost; a total that leaves some calls out says so."""
    if cost_usd is None:
        return "cost unknown"
    text = f"${cost_usd:,.4f}"
    return f"{text} + cost unknown for {unknown_calls} call(s)" if unknown_calls else text


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
                  prices: Mapping[str, Price] | None = None) -> float | None:
    """USD for these tokens at the table's prices; None (unknown) for a model not in the table."""
    price = price_for(model, load_prices() if prices is None else prices)
    if price is None:
        return None
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
