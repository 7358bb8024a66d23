"""One record per LLM call (success, failure or cache hit), kept in the ``llm_calls`` table."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.store import Store


@dataclass(frozen=True)
class CallRecord:
    """What one call did; its fields are the columns of ``llm_calls``."""

    ts: dt.datetime
    prompt_id: str | None
    prompt_version: str | None
    variant: str | None
    model: str
    tier: str | None
    status: str                 # "success" or "failure"
    attempts: int               # HTTP requests sent (0 for a cache hit)
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    total_tokens: int
    cost_usd: float | None      # None: unknown (no reported cost, model not in the price table)
    latency_ms: float
    error_type: str | None
    cache_hit: bool
    request_id: str | None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"


_COLUMNS = [field.name for field in dataclasses.fields(CallRecord)]


def write_call(store: Store, record: CallRecord) -> None:
    placeholders = ", ".join("?" for _ in _COLUMNS)
    store.execute(
        f"INSERT INTO llm_calls ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
        [getattr(record, name) for name in _COLUMNS],
    )


def call_totals(store: Store) -> dict[str, Any]:
    """Totals over every call logged in ``llm_calls``."""
    row = store.fetchone(
        """SELECT count(*),
                  count(*) FILTER (WHERE status = 'success'),
                  count(*) FILTER (WHERE status <> 'success'),
                  count(*) FILTER (WHERE cache_hit),
                  coalesce(sum(total_tokens), 0),
                  coalesce(sum(cost_usd), 0),
                  count(*) FILTER (WHERE cost_usd IS NULL),
                  max(ts)
           FROM llm_calls"""
    )
    names = ("calls", "successes", "failures", "cache_hits", "total_tokens", "total_cost_usd",
             "cost_unknown_calls", "last_call_at")
    return dict(zip(names, row, strict=True))
