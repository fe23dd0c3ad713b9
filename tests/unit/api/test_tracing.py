"""The API's request spans: the events a request publishes continue the client's trace (or
start one), under the request's own span."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from talkavocado_common.kafka import event_headers, header, trace_id
from tests.support.tracing import hex_span_id, hex_trace_id, named, spans  # noqa: F401

from .support import build_api, media

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = "00f067aa0ba902b7"


async def test_the_submitted_event_carries_the_request_span(
    tmp_path: Path,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    api = build_api(tmp_path)
    async with api.client:
        job = await api.create_job()
        response = await api.client.put(
            job["uploadUrl"],
            content=media(1000),
            headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"},
        )
    assert response.status_code == 202, response.text
    (submitted,) = api.publisher.of_type("job.submitted")
    (upload,) = named(spans, "PUT /jobs/{jobId}/input")
    assert upload.kind is SpanKind.SERVER
    assert hex_trace_id(upload) == CLIENT_TRACE
    assert upload.parent is not None
    assert f"{upload.parent.span_id:016x}" == CLIENT_PARENT
    attributes = dict(upload.attributes or {})
    assert attributes["http.response.status_code"] == 202
    assert attributes["talkavocado.job_id"] == job["jobId"]
    assert attributes["talkavocado.tenant_id"] == job["tenantId"]
    # The event's context is the request span's: the orchestrator's span becomes its child.
    assert submitted.traceparent is not None
    assert trace_id(submitted.traceparent) == CLIENT_TRACE
    assert submitted.traceparent.split("-")[2] == hex_span_id(upload)
    assert header(event_headers(submitted), "traceparent") == submitted.traceparent


async def test_without_a_client_trace_each_request_starts_one(
    tmp_path: Path,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    api = build_api(tmp_path)
    async with api.client:
        job = await api.submitted_job()
        cancelled = await api.client.post(
            f"/jobs/{job['jobId']}/cancel", params={"tenantId": job["tenantId"]}
        )
    assert cancelled.status_code in (200, 202), cancelled.text
    (submitted,) = api.publisher.of_type("job.submitted")
    (cancel,) = api.publisher.of_type("job.cancel-requested")
    (upload_span,) = named(spans, "PUT /jobs/{jobId}/input")
    (cancel_span,) = named(spans, "POST /jobs/{jobId}/cancel")
    assert upload_span.parent is None
    assert submitted.traceparent is not None
    assert cancel.traceparent is not None
    assert trace_id(submitted.traceparent) == hex_trace_id(upload_span)
    assert trace_id(cancel.traceparent) == hex_trace_id(cancel_span)
    assert trace_id(submitted.traceparent) != trace_id(cancel.traceparent)


async def test_one_server_span_per_request_unmatched_routes_too(
    tmp_path: Path,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    api = build_api(tmp_path)
    async with api.client:
        response = await api.client.get("/no/such/route", headers={"x-correlation-id": "corr-404"})
        assert response.status_code == 404
        await api.create_job()
    server = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(server) == 2  # one per request, never a second one inside
    (missing,) = [s for s in server if dict(s.attributes or {}).get("url.path") == "/no/such/route"]
    attributes = dict(missing.attributes or {})
    assert attributes["http.response.status_code"] == 404
    assert attributes["talkavocado.correlation_id"] == "corr-404"
