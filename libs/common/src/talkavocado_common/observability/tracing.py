"""OpenTelemetry tracing: one trace from the API request through the orchestrator to each step.

The W3C trace context travels in every event twice, as the envelope's `traceparent` and as the
Kafka record headers `traceparent` (+ `tracestate`). A consumer extracts it (headers first, the
envelope as fallback) and starts a child span; what it produces while that span is current
carries the span's own context (`current_traceparent()`), so the next hop is its child.

`configure_tracing` sets the process's TracerProvider with the exporter OTEL_TRACES_EXPORTER
names. Without it (tests, the in-process CLI) a provider without an exporter is made on first
use: spans exist, ids propagate, nothing is exported.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableSequence, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .settings import ObservabilitySettings

log = logging.getLogger(__name__)

TRACER_NAME = "talkavocado"
OTLP_EXTRA = "talkavocado-common[otlp]"

KafkaHeaders = Sequence[tuple[str, bytes]]
AttributeValue = str | bool | int | float

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """The tracing settings cannot be carried out; the text is one line naming the variable."""


# -- set-up -----------------------------------------------------------------------------------


def _one_line_json(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def make_exporter(settings: ObservabilitySettings) -> SpanExporter | None:
    """The exporter OTEL_TRACES_EXPORTER names (None for `none`)."""
    kind = settings.traces_exporter
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stdout, formatter=_one_line_json)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER=otlp needs the optional extra: install {OTLP_EXTRA!r} "
            "(opentelemetry-exporter-otlp-proto-http)"
        ) from None
    endpoint = settings.otlp_endpoint
    exporter: SpanExporter = OTLPSpanExporter(
        endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
    )
    return exporter


def configure_tracing(
    service: str,
    settings: ObservabilitySettings | None = None,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Make and install this process's TracerProvider (service.name `talkavocado-<service>`).

    `exporter` (tests: an InMemorySpanExporter) replaces the one the settings name and is
    exported to synchronously. Raises TracingConfigError for an unusable configuration.
    Calling it again replaces the provider the helpers here use (the OpenTelemetry global can
    be set once per process: the first call sets it).
    """
    settings = settings or ObservabilitySettings()
    chosen = exporter if exporter is not None else make_exporter(settings)
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"talkavocado-{service}"}),
    )
    if chosen is not None:
        synchronous = exporter is not None or settings.traces_exporter == "console"
        provider.add_span_processor(
            SimpleSpanProcessor(chosen) if synchronous else BatchSpanProcessor(chosen)
        )
    use_tracer_provider(provider)
    return provider


def use_tracer_provider(provider: TracerProvider) -> None:
    """Make `provider` the one spans are made with, here and — through the OpenTelemetry global,
    which can be set once per process and is set to a stand-in that follows this choice — in
    libraries that trace on their own (FastAPI's native telemetry)."""
    global _provider
    previous, _provider = _provider, provider
    if previous is not None and previous is not provider:
        previous.shutdown()
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(_CURRENT)


class _CurrentTracer(trace.Tracer):
    """A tracer of whichever provider `use_tracer_provider` chose last."""

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> None:
        self._scope = (name, version, schema_url, attributes)
        self._cached: tuple[TracerProvider, trace.Tracer] | None = None

    def _tracer(self) -> trace.Tracer:
        provider = tracer_provider()
        cached = self._cached
        if cached is None or cached[0] is not provider:
            cached = (provider, provider.get_tracer(*self._scope))
            self._cached = cached
        return cached[1]

    def start_span(self, *args: Any, **kwargs: Any) -> Span:
        return self._tracer().start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # the API's own context-manager type
        self, *args: Any, **kwargs: Any
    ) -> Iterator[Span]:
        with self._tracer().start_as_current_span(*args, **kwargs) as span:
            yield span


class _CurrentTracerProvider(trace.TracerProvider):
    """The process's global provider once tracing is configured: hands out `_CurrentTracer`s."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _CurrentTracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


_CURRENT = _CurrentTracerProvider()


def tracer_provider() -> TracerProvider:
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": "talkavocado"}))
    return _provider


def get_tracer() -> trace.Tracer:
    return tracer_provider().get_tracer(TRACER_NAME)


# -- propagation through Kafka headers ---------------------------------------------------------


class _HeadersGetter(Getter[KafkaHeaders]):
    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        found = [
            value.decode("utf-8", errors="replace")
            for name, value in carrier
            if name.lower() == key.lower() and value is not None
        ]
        return found or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _HeadersSetter(Setter[MutableSequence[tuple[str, bytes]]]):
    def set(self, carrier: MutableSequence[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(name, v) for name, v in carrier if name.lower() != key.lower()]
        carrier.append((key, value.encode()))


_GETTER = _HeadersGetter()
_SETTER = _HeadersSetter()


def inject_headers(
    headers: MutableSequence[tuple[str, bytes]], context: otel_context.Context | None = None
) -> MutableSequence[tuple[str, bytes]]:
    """Write `traceparent` (and `tracestate`) of `context` (default: the current span) into
    Kafka-style headers, replacing any already there. Returns `headers`."""
    _PROPAGATOR.inject(headers, context=context, setter=_SETTER)
    return headers


def extract_headers(headers: KafkaHeaders | None) -> otel_context.Context:
    """The context whose parent is the span in the headers' `traceparent` (an empty context
    when there is none or it is malformed)."""
    return _PROPAGATOR.extract(list(headers or ()), getter=_GETTER)


def context_from_traceparent(
    traceparent: str | None, tracestate: str | None = None
) -> otel_context.Context:
    carrier: dict[str, str] = {}
    if traceparent:
        carrier["traceparent"] = traceparent
        if tracestate:
            carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)


def has_remote_parent(context: otel_context.Context) -> bool:
    return trace.get_current_span(context).get_span_context().is_valid


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, None when no span is current."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span as lowercase hex, or (None, None)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


@contextmanager
def start_span(
    name: str,
    *,
    headers: KafkaHeaders | None = None,
    traceparent: str | None = None,
    parent: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue | None] | None = None,
) -> Iterator[Span]:
    """A span made current for the block, child of (in order of preference) `parent`, the
    trace context in `headers`, `traceparent` — or, with none of them, of the current span
    (a new trace when there is none). An exception escaping the block is recorded on it."""
    context = parent
    if context is None and headers:
        extracted = extract_headers(headers)
        if has_remote_parent(extracted):
            context = extracted
    if context is None and traceparent:
        extracted = context_from_traceparent(traceparent)
        if has_remote_parent(extracted):
            context = extracted
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    with get_tracer().start_as_current_span(
        name, context=context, kind=kind, attributes=attrs
    ) as span:
        yield span


def mark_error(span: Span, description: str) -> None:
    span.set_status(Status(StatusCode.ERROR, description))


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    span.set_attributes({k: v for k, v in attributes.items() if v is not None})
