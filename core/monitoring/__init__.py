"""Monitoring: Prometheus metrics, OpenTelemetry spans and structlog events for each unit of work.

Each kind of work is observed in one place, which does all three: ``observed_forecast`` (the
cashflow service's ``run_deals``), ``observed_ingest`` (deal and invoice uploads),
``observed_llm_call`` and ``observed_llm_stream`` with ``llm_call_recorded`` (the LLM
client's plain and streamed calls), and the API's request middleware (``observe_request``).
``configure_process`` is called once at each process's start (``python -m core``, the
dashboard) to set up logs, traces and, for the dashboard, the metrics port.

What is off costs no import: OpenTelemetry is loaded only when tracing is on, and Prometheus
only where metrics are recorded, which is everywhere but a command-line run (nothing serves
its metrics; they would die with the process).

Modules: metrics (the Prometheus metrics), tracing (OpenTelemetry set-up), logs (structlog).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.monitoring.logs import configure_logging, get_logger
from core.monitoring.tracing import configure_tracing, tracer, tracing_on

if TYPE_CHECKING:
    from opentelemetry.trace import Span

_log = get_logger("core.monitoring")
_configured = False
_record_metrics = True  # False in a command-line run (configure_process)


def configure_process(
    service: str, settings: Settings, *, level: int = logging.INFO, serve_metrics: bool = False
) -> None:
    """Logs, traces and (``serve_metrics``) the Prometheus port, once per process."""
    global _configured, _record_metrics
    if _configured:
        return
    _configured = True
    _record_metrics = service != "cli"
    configure_logging(settings.log_format, level=level)
    configure_tracing(f"dealcast-{service}")
    if serve_metrics and settings.metrics_port:
        from core.monitoring import metrics

        metrics.serve_metrics(settings.metrics_port)


def _metrics():
    """The Prometheus metrics module where metrics are recorded, else None."""
    if not _record_metrics:
        return None
    from core.monitoring import metrics

    return metrics


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Span | None]:
    """A current span named ``name`` when tracing is on, else None."""
    if not tracing_on():
        yield None
        return
    with tracer().start_as_current_span(name, attributes=attributes) as span:
        yield span


@contextlib.contextmanager
def _unit(name: str, attributes: dict[str, Any]) -> Iterator[tuple[Span | None, dict[str, Any]]]:
    """A span named ``name`` (None with tracing off) and a dict of fields for the one log event,
    with duration and outcome."""
    fields: dict[str, Any] = dict(attributes)
    started = time.perf_counter()
    with _span(name, attributes) as span:
        try:
            yield span, fields
        except BaseException as exc:
            fields["outcome"] = "failure"
            fields["error_type"] = type(exc).__name__
            if span is not None:
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        else:
            fields.setdefault("outcome", "success")
        finally:
            fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            if span is not None:
                span.set_attributes(
                    {f"dealcast.{k}": v for k, v in fields.items() if isinstance(v, str | int | float)}
                )
            (_log.info if fields["outcome"] == "success" else _log.warning)(name, **fields)


def observed_forecast(run_deals: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``CashflowPredictionService.run_deals``: span, duration histogram, run counter, event."""

    @functools.wraps(run_deals)
    def wrapper(self, deals, as_of, options=None, **kwargs):
        engine = getattr(options, "engine", "rules")
        attributes = {"engine": engine, "deals": len(deals), "as_of": str(as_of),
                      "llm": bool(getattr(options, "use_llm", False))}
        if kwargs.get("snapshot_id") is not None:
            attributes["snapshot_id"] = int(kwargs["snapshot_id"])
        try:
            with _unit("forecast", attributes) as (_, fields):
                return run_deals(self, deals, as_of, options, **kwargs)
        finally:
            if (metrics := _metrics()) is not None:
                metrics.FORECAST_RUNS.labels(engine, fields["outcome"]).inc()
                metrics.FORECAST_DURATION.labels(engine).observe(fields["duration_ms"] / 1000)

    return wrapper


def observed_ingest(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap an ``ingest_*_bytes(store, data, file_name, ...)``: span, row counters, event."""

    def decorate(ingest: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(ingest)
        def wrapper(store, data, file_name, **kwargs):
            with _unit("ingest", {"kind": kind, "bytes": len(data)}) as (_, fields):
                result = ingest(store, data, file_name, **kwargs)
                fields.update(snapshot_id=result.snapshot_id, source=result.source,
                              duplicate=result.duplicate_of is not None)
                if result.duplicate_of is None:
                    fields.update(rows_read=result.rows_read, rows_loaded=result.rows_loaded,
                                  rows_rejected=result.rows_rejected)
            if (metrics := _metrics()) is not None:
                if result.duplicate_of is None:
                    for fate in ("read", "loaded", "rejected"):
                        metrics.INGEST_ROWS.labels(kind, fate).inc(getattr(result, f"rows_{fate}"))
                metrics.INGEST_DURATION.labels(kind).observe(fields["duration_ms"] / 1000)
            return result

        return wrapper

    return decorate


_LLM_SPAN = "llm.call"


def observed_llm_call(run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the LLM client's one-call path (``LLMClient._run``) in an ``llm.call`` span; the
    httpx instrumentation's spans are its children. The breaker's state is published after."""

    @functools.wraps(run)
    async def wrapper(self, call, *args, **kwargs):
        try:
            with tracer().start_as_current_span(_LLM_SPAN, attributes=_llm_attributes(call)):
                return await run(self, call, *args, **kwargs)
        finally:
            if (metrics := _metrics()) is not None:
                metrics.set_circuit_state(self.circuit_state)

    return wrapper


def observed_llm_stream(stream: Callable[..., AsyncGenerator[str, None]]) -> Callable[..., Any]:
    """Wrap the LLM client's streamed call (``LLMClient._stream``) in the same ``llm.call`` span.

    The span is current while the stream works (each step up to the next chunk, where the
    request, its httpx span and the recording happen), not while the caller holds a chunk;
    it ends when the stream ends, fails or is closed early.
    """

    @functools.wraps(stream)
    async def wrapper(self, call, *args, **kwargs):
        from opentelemetry import trace

        span = tracer().start_span(_LLM_SPAN, attributes=_llm_attributes(call))
        chunks = stream(self, call, *args, **kwargs)
        try:
            while True:
                with trace.use_span(span):
                    try:
                        text = await anext(chunks)
                    except StopAsyncIteration:
                        break
                yield text
        finally:
            with trace.use_span(span, end_on_exit=True):
                await chunks.aclose()
            if (metrics := _metrics()) is not None:
                metrics.set_circuit_state(self.circuit_state)

    return wrapper


def _llm_attributes(call: Any) -> dict[str, str]:
    """What an ``llm.call`` span says of the call before it is made: ids, never text."""
    return {
        "llm.model": call.model,
        "llm.tier": str(call.tier or ""),
        "llm.prompt_id": call.prompt_id or "",
        "llm.prompt_version": str(call.prompt_version or ""),
    }


def llm_call_recorded(record: Any) -> None:
    """Count one recorded LLM call (a ``CallRecord``) and put its numbers on the current span.
    The event itself is the client's "LLM request completed/failed" log line."""
    if (metrics := _metrics()) is not None:
        prompt = record.prompt_id or "(none)"
        metrics.LLM_REQUESTS.labels(record.model, prompt, record.status).inc()
        metrics.LLM_TOKENS.labels(record.model, "prompt").inc(record.prompt_tokens or 0)
        metrics.LLM_TOKENS.labels(record.model, "completion").inc(record.completion_tokens or 0)
        metrics.LLM_COST.labels(record.model).inc(record.cost_usd or 0.0)
        metrics.LLM_LATENCY.labels(record.model).observe((record.latency_ms or 0.0) / 1000)
        if record.cache_hit:
            metrics.LLM_CACHE_HITS.labels(record.model).inc()
    if not tracing_on():
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    span = trace.get_current_span()
    if span.is_recording() and getattr(span, "name", None) == _LLM_SPAN:
        span.set_attributes({
            "llm.response_model": record.model,
            "llm.status": record.status,
            "llm.attempts": record.attempts or 0,
            "llm.prompt_tokens": record.prompt_tokens or 0,
            "llm.completion_tokens": record.completion_tokens or 0,
            "llm.total_tokens": record.total_tokens or 0,
            "llm.cost_usd": record.cost_usd or 0.0,
            "llm.cache_hit": bool(record.cache_hit),
        })
        if record.error_type:
            span.set_status(Status(StatusCode.ERROR, record.error_type))


@contextlib.contextmanager
def observe_request(method: str) -> Iterator[dict[str, Any]]:
    """One API request: span, counters by route and status, one event. The caller fills in
    ``route`` (the path template, known after routing) and ``status``."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from core.monitoring import metrics

    fields: dict[str, Any] = {"method": method, "route": "(unmatched)", "status": 500}
    started = time.perf_counter()
    with tracer().start_as_current_span(f"HTTP {method}", kind=SpanKind.SERVER) as span:
        try:
            yield fields
        finally:
            duration = time.perf_counter() - started
            route, status = fields["route"], int(fields["status"])
            span.update_name(f"{method} {route}")
            span.set_attributes({"http.request.method": method, "http.route": route,
                                 "http.response.status_code": status})
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(duration)
            _log.info("api request", method=method, route=route, status=status,
                      duration_ms=round(duration * 1000, 1))

__all__ = [
    "configure_logging",
    "configure_process",
    "configure_tracing",
    "llm_call_recorded",
    "observe_request",
    "observed_forecast",
    "observed_ingest",
    "observed_llm_call",
    "observed_llm_stream",
]
