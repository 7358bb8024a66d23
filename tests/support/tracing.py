"""Spans collected in memory with the OpenTelemetry SDK's own exporter, for tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.monitoring import configure_tracing
from core.monitoring.tracing import reset_tracing


@contextlib.contextmanager
def spans_in_memory() -> Iterator[InMemorySpanExporter]:
    """Tracing on (httpx instrumented too) into an in-memory exporter; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    configure_tracing("dealcast-test", provider=provider)
    try:
        yield exporter
    finally:
        reset_tracing()
