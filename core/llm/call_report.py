"""What the ``llm_calls`` log says, summarised for the LLM usage page: frames in, no Streamlit.

``usage_report(store, models=..., prompts=...)`` reads the log once per question with SQL
and returns totals, calls over time, errors by type, and the same figures by model and by
prompt. Filters are lists of model ids and prompt ids (empty: all); calls made without a
prompt id are listed as ``(none)``, as ``get_metrics()`` does. Latency percentiles are
nearest-rank over every call, cache hits included, the same definition as
``core.llm.metrics`` uses for the in-process figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from core.llm.metrics import NO_PROMPT
from core.store import Store

Granularity = Literal["hour", "day"]
#: Calls spanning at most this long are counted per hour, longer spans per day.
HOURLY_SPAN = dt.timedelta(days=2)

_PROMPT = f"coalesce(prompt_id, '{NO_PROMPT}')"
_WHERE = f"""
WHERE (len($models) = 0 OR list_contains($models, model))
  AND (len($prompts) = 0 OR list_contains($prompts, {_PROMPT}))
"""


def _percentile(percent: int) -> str:
    """Nearest-rank percentile of latency_ms in SQL (NULL when there are no calls)."""
    return (
        "list_sort(list(latency_ms) FILTER (WHERE latency_ms IS NOT NULL))"
        f"[greatest(ceil({percent / 100} * count(latency_ms))::BIGINT, 1)]"
    )


_FIGURES = f"""
count(*) AS calls,
count(*) FILTER (WHERE status = 'success') AS successes,
count(*) FILTER (WHERE status <> 'success') AS failures,
count(*) FILTER (WHERE cache_hit) AS cache_hits,
coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens,
coalesce(sum(cost_usd), 0.0) AS cost_usd,
count(*) FILTER (WHERE cost_usd IS NULL) AS cost_unknown_calls,
{_percentile(50)} AS latency_p50_ms,
{_percentile(95)} AS latency_p95_ms
"""


@dataclass(frozen=True)
class UsageReport:
    """The log under the chosen filters. ``totals`` holds calls, successes, failures,
    cache_hits, cache_hit_rate, the three token counts, cost_usd (of the calls whose cost is
    known), cost_unknown_calls, latency_p50_ms,
    latency_p95_ms, first_call_at and last_call_at."""

    totals: dict[str, Any]
    granularity: Granularity
    over_time: pd.DataFrame   # period, calls, successes, failures, cache_hits, tokens, cost_usd
    errors: pd.DataFrame      # error_type, calls (most frequent first)
    by_model: pd.DataFrame    # model and the figures of _FIGURES
    by_prompt: pd.DataFrame   # prompt and the figures of _FIGURES

    @property
    def empty(self) -> bool:
        return self.totals["calls"] == 0


def call_filters(store: Store) -> tuple[list[str], list[str]]:
    """The models and prompt ids the log holds, for the page's filters."""
    models = [row[0] for row in store.fetchall(
        "SELECT DISTINCT model FROM llm_calls WHERE model IS NOT NULL ORDER BY 1")]
    prompts = [row[0] for row in store.fetchall(f"SELECT DISTINCT {_PROMPT} FROM llm_calls ORDER BY 1")]
    return models, prompts


def usage_report(store: Store, *, models: Sequence[str] = (), prompts: Sequence[str] = ()) -> UsageReport:
    """Totals, calls over time, errors and breakdowns of the calls matching the filters."""
    parameters = {"models": list(models), "prompts": list(prompts)}

    def frame(sql: str) -> pd.DataFrame:
        return store.query_df(sql, parameters)

    totals = frame(f"SELECT {_FIGURES}, min(ts) AS first_call_at, max(ts) AS last_call_at "
                   f"FROM llm_calls {_WHERE}").iloc[0].to_dict()
    totals = {name: _plain(value) for name, value in totals.items()}
    calls = int(totals["calls"])
    totals["cache_hit_rate"] = int(totals["cache_hits"]) / calls if calls else None
    granularity = _granularity(totals["first_call_at"], totals["last_call_at"])
    over_time = frame(
        f"""SELECT date_trunc('{granularity}', ts) AS period, count(*) AS calls,
                   count(*) FILTER (WHERE status = 'success') AS successes,
                   count(*) FILTER (WHERE status <> 'success') AS failures,
                   count(*) FILTER (WHERE cache_hit) AS cache_hits,
                   coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
                   coalesce(sum(cost_usd), 0.0) AS cost_usd
            FROM llm_calls {_WHERE} GROUP BY 1 ORDER BY 1"""
    )
    errors = frame(
        f"""SELECT coalesce(error_type, 'unknown') AS error_type, count(*) AS calls
            FROM llm_calls {_WHERE} AND status <> 'success' GROUP BY 1 ORDER BY 2 DESC, 1"""
    )
    by_model = frame(f"SELECT coalesce(model, 'unknown') AS model, {_FIGURES} FROM llm_calls {_WHERE} "
                     "GROUP BY 1 ORDER BY calls DESC, 1")
    by_prompt = frame(f"SELECT {_PROMPT} AS prompt, {_FIGURES} FROM llm_calls {_WHERE} "
                      "GROUP BY 1 ORDER BY calls DESC, 1")
    return UsageReport(totals, granularity, over_time, errors, by_model, by_prompt)


def _plain(value: Any) -> Any:
    """A frame cell as a plain Python value, None when missing."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _granularity(first: Any, last: Any) -> Granularity:
    if first is None or last is None:
        return "day"
    return "hour" if pd.Timestamp(last) - pd.Timestamp(first) <= HOURLY_SPAN else "day"
