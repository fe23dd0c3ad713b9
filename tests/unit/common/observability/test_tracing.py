"""W3C trace context through Kafka headers and OpenTelemetry spans."""

from __future__ import annotations

import builtins
import io
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from talkavocado_common.events import JobCancelRequested, new_event
from talkavocado_common.kafka import event_headers, header, trace_id
from talkavocado_common.observability import (
    ObservabilitySettings,
    TracingConfigError,
    configure_tracing,
    context_from_traceparent,
    current_ids,
    current_traceparent,
    extract_headers,
    inject_headers,
    start_span,
)
from talkavocado_common.observability.tracing import make_exporter
from tests.support.tracing import hex_span_id, hex_trace_id, named

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN}-01"


def test_no_span_no_traceparent() -> None:
    assert current_traceparent() is None
    assert current_ids() == (None, None)


def test_inject_extract_round_trip_through_kafka_headers(spans: InMemorySpanExporter) -> None:
    headers: list[tuple[str, bytes]] = [("content-type", b"x"), ("traceparent", b"stale")]
    with start_span("produce") as producer:
        inject_headers(headers)
        sent = producer.get_span_context()
    names = [name for name, _ in headers]
    assert names.count("traceparent") == 1  # replaced, not appended twice
    assert header(headers, "content-type") == "x"
    value = header(headers, "traceparent")
    assert value == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}"
    assert sent.trace_flags.sampled

    with start_span("consume", headers=headers, kind=SpanKind.CONSUMER) as consumer:
        assert current_traceparent() is not None
        received = consumer.get_span_context()
    assert received.trace_id == sent.trace_id
    assert received.span_id != sent.span_id
    (consume,) = named(spans, "consume")
    assert consume.parent is not None
    assert consume.parent.span_id == sent.span_id
    assert consume.parent.is_remote
    assert consume.kind is SpanKind.CONSUMER


def test_a_child_of_a_traceparent_shares_its_trace_id(spans: InMemorySpanExporter) -> None:
    with start_span("step", traceparent=TRACEPARENT):
        produced = current_traceparent()
        ids = current_ids()
    (span,) = spans.get_finished_spans()
    assert hex_trace_id(span) == TRACE_ID
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == PARENT_SPAN
    assert produced == f"00-{TRACE_ID}-{hex_span_id(span)}-01"  # the parent's flags
    assert ids == (TRACE_ID, hex_span_id(span))
    assert trace_id(produced) == TRACE_ID


def test_headers_win_over_the_envelope_and_garbage_is_a_new_trace(
    spans: InMemorySpanExporter,
) -> None:
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    with start_span("a", headers=[("traceparent", TRACEPARENT.encode())], traceparent=other):
        pass
    with start_span("b", headers=[("traceparent", b"garbage")], traceparent=other):
        pass
    with start_span("c", headers=[("traceparent", b"garbage")], traceparent="nope"):
        pass
    a, b, c = (named(spans, n)[0] for n in "abc")
    assert hex_trace_id(a) == TRACE_ID
    assert hex_trace_id(b) == "1" * 32
    assert c.parent is None
    assert hex_trace_id(c) not in (TRACE_ID, "1" * 32)


def test_an_unsampled_parent_still_propagates_its_trace_id(spans: InMemorySpanExporter) -> None:
    with start_span("quiet", traceparent=f"00-{TRACE_ID}-{PARENT_SPAN}-00"):
        produced = current_traceparent()
    assert spans.get_finished_spans() == ()  # not sampled: not exported
    assert produced is not None
    assert trace_id(produced) == TRACE_ID
    assert produced.endswith("-00")


def test_nested_spans_and_errors(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), start_span("outer"), start_span("inner"):
        raise RuntimeError("boom")
    inner, outer = spans.get_finished_spans()
    assert inner.parent is not None
    assert outer.context is not None
    assert inner.parent.span_id == outer.context.span_id
    assert inner.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in inner.events)


def test_event_headers_carry_the_envelope_traceparent(spans: InMemorySpanExporter) -> None:
    with start_span("api request"):
        event = new_event(
            "job.cancel-requested",
            JobCancelRequested(job_id="job-1", tenant_id="acme", env="test"),
            source="/t",
            subject="job-1",
            tenant_id="acme",
            traceparent=current_traceparent(),
        )
    headers = event_headers(event)
    assert header(headers, "traceparent") == event.traceparent
    context = extract_headers(headers)
    with start_span("orchestrator", parent=context):
        pass
    request, orchestrator = spans.get_finished_spans()
    assert orchestrator.parent is not None
    assert request.context is not None
    assert orchestrator.parent.span_id == request.context.span_id


def test_context_from_traceparent_keeps_tracestate(spans: InMemorySpanExporter) -> None:
    context = context_from_traceparent(TRACEPARENT, "vendor=abc")
    headers: list[tuple[str, bytes]] = []
    with start_span("x", parent=context):
        inject_headers(headers)
    assert header(headers, "tracestate") == "vendor=abc"


def test_make_exporter_per_setting() -> None:
    assert make_exporter(ObservabilitySettings(OTEL_TRACES_EXPORTER="none")) is None
    console = make_exporter(ObservabilitySettings(OTEL_TRACES_EXPORTER="console"))
    assert type(console).__name__ == "ConsoleSpanExporter"
    otlp = make_exporter(
        ObservabilitySettings(
            OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/"
        )
    )
    assert type(otlp).__name__ == "OTLPSpanExporter"
    assert getattr(otlp, "_endpoint", None) == "http://collector:4318/v1/traces"
    assert otlp is not None
    otlp.shutdown()


def test_otlp_without_the_extra_is_one_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_otlp(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.exporter.otlp"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otlp)
    with pytest.raises(TracingConfigError) as caught:
        configure_tracing("api", ObservabilitySettings(OTEL_TRACES_EXPORTER="otlp"))
    message = str(caught.value)
    assert "\n" not in message
    assert "OTEL_TRACES_EXPORTER=otlp" in message
    assert "talkavocado-common[otlp]" in message


def test_console_exporter_writes_one_json_line_per_span(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    configure_tracing("render", ObservabilitySettings(OTEL_TRACES_EXPORTER="console"))
    with start_span("first", traceparent=TRACEPARENT), start_span("second"):
        pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[1])
    assert first["name"] == "first"
    assert first["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert first["resource"]["attributes"]["service.name"] == "talkavocado-render"
