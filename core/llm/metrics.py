"""In-memory totals of this process's LLM calls, for ``LLMClient.get_metrics()``.

Updated on the client's event loop and read from any thread (a Streamlit page), so a lock
guards it. Latencies keep the most recent ``LATENCY_WINDOW`` calls for the percentiles.
"""

from __future__ import annotations

import collections
import math
import threading
from typing import Any

from core.llm.calllog import CallRecord

LATENCY_WINDOW = 10_000
NO_PROMPT = "(none)"


def _group() -> dict[str, Any]:
    return {
        "request_count": 0, "success_count": 0, "failure_count": 0, "cache_hits": 0,
        "total_tokens": 0, "total_cost_usd": 0.0, "cost_unknown_count": 0,
    }


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._totals = {
                **_group(),
                "attempt_count": 0, "retry_count": 0,
                "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0,
            }
            self._errors: collections.Counter[str] = collections.Counter()
            self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
            self._by_model: dict[str, dict[str, Any]] = collections.defaultdict(_group)
            self._by_prompt: dict[str, dict[str, Any]] = collections.defaultdict(_group)

    def record(self, call: CallRecord) -> None:
        with self._lock:
            totals = self._totals
            for group in (totals, self._by_model[call.model], self._by_prompt[call.prompt_id or NO_PROMPT]):
                group["request_count"] += 1
                group["success_count" if call.succeeded else "failure_count"] += 1
                group["cache_hits"] += int(call.cache_hit)
                group["total_tokens"] += call.total_tokens
                group["total_cost_usd"] += call.cost_usd or 0.0
                group["cost_unknown_count"] += int(call.cost_usd is None)
            totals["attempt_count"] += call.attempts
            totals["retry_count"] += max(call.attempts - 1, 0)
            totals["prompt_tokens"] += call.prompt_tokens
            totals["completion_tokens"] += call.completion_tokens
            totals["cached_tokens"] += call.cached_tokens
            if call.error_type:
                self._errors[call.error_type] += 1
            self._latencies.append(call.latency_ms)

    def snapshot(self) -> dict[str, Any]:
        """Counts, tokens, cost, latency p50/p95, errors by type, and the same by model and prompt.

        ``request_count`` counts calls (cache hits included); ``attempt_count`` the HTTP
        requests they sent; ``retry_count`` the requests beyond each call's first.
        """
        with self._lock:
            latencies = sorted(self._latencies)
            return {
                **self._totals,
                "latency_p50_ms": _percentile(latencies, 50),
                "latency_p95_ms": _percentile(latencies, 95),
                "errors_by_type": dict(self._errors),
                "by_model": {name: dict(group) for name, group in self._by_model.items()},
                "by_prompt": {name: dict(group) for name, group in self._by_prompt.items()},
            }


def _percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile; 0.0 when there are no values."""
    if not sorted_values:
        return 0.0
    rank = max(math.ceil(percent / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]
