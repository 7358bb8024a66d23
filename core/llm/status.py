"""What the LLM set-up looks like right now, for ``python -m core llm status`` and the pages.

Never includes the API key: only whether one is set.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from core.llm.cache import cache_size
from core.llm.calllog import call_totals
from core.llm.client import LLMClient
from core.store import Store


class CallTotals(BaseModel):
    calls: int = 0
    successes: int = 0
    failures: int = 0
    cache_hits: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    last_call_at: dt.datetime | None = None


class LLMStatus(BaseModel):
    """The client's configuration and state, plus what the store holds about past calls."""

    enabled: bool
    disabled_reason: str | None
    base_url: str
    models: dict[str, str]
    api_key_present: bool
    circuit_state: str
    consecutive_failures: int
    cache_rows: int | None = None
    cache_live_rows: int | None = None
    calls: CallTotals | None = None


def llm_status(client: LLMClient, store: Store | None = None) -> LLMStatus:
    """Describe ``client``; with a store, also its cache size and logged call totals."""
    status = LLMStatus(
        enabled=client.enabled,
        disabled_reason=client.disabled_reason,
        base_url=client.base_url,
        models=dict(client.models),
        api_key_present=client.has_api_key,
        circuit_state=str(client.circuit_state),
        consecutive_failures=client.breaker.consecutive_failures,
    )
    if store is None:
        return status
    size = cache_size(store)
    return status.model_copy(update={
        "cache_rows": size["rows"],
        "cache_live_rows": size["live_rows"],
        "calls": CallTotals(**call_totals(store)),
    })
