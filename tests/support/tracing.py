"""Spans in memory: `from tests.support.tracing import spans  # noqa: F401` in a conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from talkavocado_common.observability.tracing import configure_tracing, use_tracer_provider


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider exports to this exporter for the test (synchronously)."""
    exporter = InMemorySpanExporter()
    configure_tracing("test", exporter=exporter)
    try:
        yield exporter
    finally:
        use_tracer_provider(TracerProvider())


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def hex_trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def hex_span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"
