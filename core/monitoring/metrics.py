"""Prometheus metrics (prometheus-client) on the default registry, served by the API's
``/metrics`` and, in the dashboard process, on ``DEALCAST_METRICS_PORT``.

Names follow Prometheus conventions: ``dealcast_`` prefix, ``_total`` counters, ``_seconds``
histograms. Labels hold only bounded, non-secret values (model ids, prompt ids, engines,
route templates, statuses), never text, keys or tokens.
"""

from __future__ import annotations

import enum
import threading

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

LLM_REQUESTS = Counter(
    "dealcast_llm_requests_total", "LLM calls by model, prompt and outcome (success, failure)",
    ["model", "prompt", "outcome"],
)
LLM_TOKENS = Counter("dealcast_llm_tokens_total", "LLM tokens by model and kind (prompt, completion)",
                     ["model", "kind"])
LLM_COST = Counter("dealcast_llm_cost_usd_total", "LLM cost in US dollars by model", ["model"])
LLM_LATENCY = Histogram(
    "dealcast_llm_request_duration_seconds", "LLM call latency (retries included) by model", ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_CACHE_HITS = Counter("dealcast_llm_cache_hits_total", "LLM calls answered from the response cache",
                         ["model"])
LLM_CIRCUIT = Gauge("dealcast_llm_circuit_state", "1 for the LLM circuit breaker's current state", ["state"])

FORECAST_RUNS = Counter("dealcast_forecast_runs_total", "Forecast runs by engine and outcome",
                        ["engine", "outcome"])
FORECAST_DURATION = Histogram(
    "dealcast_forecast_duration_seconds", "Forecast run duration by engine", ["engine"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
INGEST_ROWS = Counter(
    "dealcast_ingest_rows_total", "Rows of uploaded files by kind and fate (read, loaded, rejected)",
    ["kind", "fate"],
)
INGEST_DURATION = Histogram("dealcast_ingest_duration_seconds", "Upload ingest duration by kind", ["kind"],
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))

HTTP_REQUESTS = Counter("dealcast_http_requests_total", "API requests by method, route and status",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "dealcast_http_request_duration_seconds", "API request duration by method and route", ["method", "route"]
)

_served: dict[int, object] = {}
_served_lock = threading.Lock()


def set_circuit_state(state: enum.Enum) -> None:
    """1 for ``state``, 0 for the other members of its enum (core.llm.circuit.CircuitState)."""
    for member in type(state):
        LLM_CIRCUIT.labels(member.value).set(1 if member == state else 0)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Serve the registry on ``addr:port`` in a background thread, once per process and port."""
    with _served_lock:
        if port not in _served:
            _served[port] = start_http_server(port, addr=addr, registry=REGISTRY)
