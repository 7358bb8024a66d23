"""OpenTelemetry traces: spans for API requests, ingests, forecasts and LLM calls.

Off by default, at the cost of a no-op span per unit of work: ``tracer()`` is the API's
no-op tracer until ``configure_tracing`` installs an SDK provider. The standard variables
turn it on: ``OTEL_TRACES_EXPORTER=otlp`` (OTLP over HTTP, endpoint from
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``console``;
an OTLP endpoint alone also turns it on; ``OTEL_SDK_DISABLED=true`` keeps it off;
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the service. LLM calls' HTTP
requests get the httpx instrumentation's spans too. Span attributes carry ids, counts and
durations, never prompt text, keys or tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on, or a caller asks for a tracer
    from opentelemetry import trace

_provider = None  # the SDK TracerProvider once configured


def tracing_on() -> bool:
    """Whether spans are recorded (``configure_tracing`` installed a provider)."""
    return _provider is not None


def tracing_wanted(env: Mapping[str, str] | None = None) -> str | None:
    """The exporter the environment asks for (``otlp`` or ``console``), or None when tracing is off."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter in ("otlp", "console"):
        return exporter
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not exporter and endpoint:
        return "otlp"
    return None


def configure_tracing(service_name: str, *, provider=None) -> bool:
    """Install an SDK provider when the environment asks for one (or ``provider`` is given, as
    tests do with an in-memory exporter) and instrument httpx. Returns whether tracing is on."""
    global _provider
    if provider is None:
        exporter = tracing_wanted()
        if exporter is None:
            return False
        provider = _sdk_provider(service_name, exporter)
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
    _provider = provider
    return True


def reset_tracing() -> None:
    """Back to no tracing (tests)."""
    global _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().uninstrument()
    _provider = None


def _sdk_provider(service_name: str, exporter: str):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracer() -> trace.Tracer:
    """Dealcast's tracer: the SDK's when tracing is on, else a no-op one."""
    from opentelemetry import trace

    return trace.NoOpTracer() if _provider is None else _provider.get_tracer("dealcast")


def trace_ids() -> dict[str, str]:
    """The current trace and span ids (hex) for a log event; empty when no span is recording."""
    if _provider is None:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
