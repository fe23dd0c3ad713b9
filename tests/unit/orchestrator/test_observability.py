"""The orchestrator's metrics, spans and log context around the transition function."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from faust.types.tuples import TP
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from talkavocado_common.events import CloudEvent, StepFailed, Topics, new_event
from talkavocado_common.events.models import StepError
from talkavocado_common.kafka import event_headers, trace_id
from talkavocado_common.models import ErrorCode
from talkavocado_common.observability import JsonFormatter, current_traceparent, start_span
from talkavocado_common.pipeline import Tick, Trace
from talkavocado_common.storage import NotFound
from talkavocado_orchestrator.agent import record_headers
from talkavocado_orchestrator.metrics import OrchestratorMetrics
from talkavocado_orchestrator.shell import Executor, handle
from talkavocado_orchestrator.web import consumer_lag
from tests.support.tracing import hex_span_id, hex_trace_id, named, spans  # noqa: F401

from .helpers import PIPELINE, Driver, submitted

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture
def metrics() -> OrchestratorMetrics:
    return OrchestratorMetrics(CollectorRegistry())


def drive(d: Driver, metrics: OrchestratorMetrics, step: Any) -> None:
    """Run one Driver call and let the metrics observe the transition it made."""
    before = d.row
    count = len(d.log)
    step()
    assert len(d.log) == count + 1
    event, _ = d.log[-1]
    metrics.observe(before, d.row, event)


def test_status_transitions_retries_and_failures(metrics: OrchestratorMetrics) -> None:
    r = metrics.registry
    d = Driver(PIPELINE)
    drive(d, metrics, d.submit)
    assert value(r, "talkavocado_orchestrator_job_transitions_total", status="processing") == 1
    assert (
        value(
            r,
            "talkavocado_orchestrator_steps_requested_total",
            state="audio-extraction",
            kind="first",
        )
        == 1
    )
    drive(d, metrics, lambda: d.fail(ErrorCode.TRANSIENT_DEPENDENCY))
    assert (
        value(
            r,
            "talkavocado_orchestrator_retries_total",
            state="audio-extraction",
            error="TRANSIENT_DEPENDENCY",
        )
        == 1
    )
    retry_due = d.job.retry_due
    assert retry_due is not None
    drive(d, metrics, lambda: d.tick_at(retry_due))
    assert (
        value(
            r,
            "talkavocado_orchestrator_steps_requested_total",
            state="audio-extraction",
            kind="retry",
        )
        == 1
    )
    # Not finished within TimeoutSeconds: retried as States.Timeout.
    drive(d, metrics, lambda: d.tick_at(d.pending.deadline))
    assert (
        value(
            r,
            "talkavocado_orchestrator_retries_total",
            state="audio-extraction",
            error="States.Timeout",
        )
        == 1
    )
    # Heartbeats are not transitions of the status.
    retry_due = d.job.retry_due
    assert retry_due is not None
    drive(d, metrics, lambda: d.tick_at(retry_due))
    drive(d, metrics, lambda: d.heartbeat(0.5))
    assert value(r, "talkavocado_orchestrator_job_transitions_total", status="processing") == 1
    # An error no retrier takes fails the job.
    drive(d, metrics, lambda: d.fail(ErrorCode.CODEC_UNSUPPORTED))
    assert d.job.ended
    assert value(r, "talkavocado_orchestrator_job_transitions_total", status="failed") == 1
    assert (
        value(
            r,
            "talkavocado_orchestrator_jobs_failed_total",
            code="CODEC_UNSUPPORTED",
            state="audio-extraction",
        )
        == 1
    )
    assert (
        value(
            r,
            "talkavocado_orchestrator_retries_total",
            state="audio-extraction",
            error="CODEC_UNSUPPORTED",
        )
        == 0
    )
    # An ignored event (a late duplicate) counts nothing.
    drive(d, metrics, lambda: d.fail(ErrorCode.CODEC_UNSUPPORTED, run="job-1/audio-extraction/1"))
    assert value(r, "talkavocado_orchestrator_job_transitions_total", status="failed") == 1


def test_completed_jobs_and_jobs_by_status(metrics: OrchestratorMetrics) -> None:
    d = Driver(PIPELINE)
    drive(d, metrics, d.submit)
    while not d.job.ended:
        drive(d, metrics, d.succeed)
    r = metrics.registry
    assert value(r, "talkavocado_orchestrator_job_transitions_total", status="completed") == 1
    assert value(r, "talkavocado_orchestrator_jobs_failed_total", code="INTERNAL", state="") == 0
    other = Driver(PIPELINE, job_id="job-2")
    other.submit()
    rows = [d.job.to_json_bytes().decode(), other.job.to_json_bytes().decode(), "not json"]
    metrics.count_jobs(rows)
    assert value(r, "talkavocado_orchestrator_jobs", status="completed") == 1
    assert value(r, "talkavocado_orchestrator_jobs", status="processing") == 1
    assert value(r, "talkavocado_orchestrator_jobs", status="failed") == 0
    metrics.count_jobs([])
    assert value(r, "talkavocado_orchestrator_jobs", status="completed") == 0


class _NoManifests:
    async def update(self, keys: Any, change: Any) -> Any:
        raise NotFound(keys.manifest)


class _Sent:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, CloudEvent]] = []

    async def __call__(self, topic: str, key: str, event: CloudEvent) -> None:
        self.events.append((topic, key, event))


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("orchestrator"))
    logger = logging.getLogger("talkavocado_orchestrator")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


async def test_each_input_is_a_span_under_its_parent_and_produces_under_it(
    spans: InMemorySpanExporter,  # noqa: F811
    metrics: OrchestratorMetrics,
    json_log: io.StringIO,
) -> None:
    topics = Topics("t.")
    sent = _Sent()
    executor = Executor(topics, _NoManifests(), sent)  # type: ignore[arg-type]
    rows: dict[str, str] = {}
    with start_span("api request", traceparent=TRACEPARENT):
        command = new_event(
            "job.submitted",
            submitted("job-1"),
            source="/api",
            subject="job-1",
            tenant_id="tenant-a",
            correlation_id="corr-9",
            traceparent=current_traceparent(),
        )
    headers = event_headers(command)
    row = await handle(
        rows,
        "job-1",
        submitted("job-1"),
        Trace(correlation_id="corr-9", traceparent=command.traceparent),
        PIPELINE,
        executor,
        headers=headers,
        metrics=metrics,
    )
    assert row is not None
    rows["job-1"] = row.to_json_bytes().decode()
    (api,) = named(spans, "api request")
    (orch,) = named(spans, "orchestrator job.submitted")
    assert hex_trace_id(orch) == TRACE_ID
    assert orch.parent is not None
    assert orch.parent.span_id == int(hex_span_id(api), 16)
    requested = [e for t, _, e in sent.events if e.type == "step.requested"]
    assert len(requested) == 1
    assert requested[0].traceparent is not None
    assert requested[0].traceparent.split("-")[2] == hex_span_id(orch)
    assert all(trace_id(e.traceparent) == TRACE_ID for _, _, e in sent.events)
    assert (
        value(
            metrics.registry, "talkavocado_orchestrator_job_transitions_total", status="processing"
        )
        == 1
    )
    # The manifest is missing: the executor's warning carries the job's context.
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert lines, "expected the executor's warning"
    for line in lines:
        assert (line["jobId"], line["tenantId"], line["correlationId"]) == (
            "job-1",
            "tenant-a",
            "corr-9",
        )
        assert line["traceId"] == TRACE_ID
        assert line["spanId"] == hex_span_id(orch)

    # A Tick has no trace of its own: it continues the job's trace, with the job's context.
    sent.events.clear()
    stored = json.loads(rows["job-1"])
    pending_deadline = stored["pending"]["deadline"]
    tick = Tick(now=datetime.fromisoformat(pending_deadline) + timedelta(seconds=1))
    row = await handle(rows, "job-1", tick, Trace(), PIPELINE, executor, metrics=metrics)
    assert row is not None
    (tick_span,) = named(spans, "orchestrator tick")
    assert hex_trace_id(tick_span) == TRACE_ID
    assert dict(tick_span.attributes or {})["talkavocado.state"] == "audio-extraction"
    assert (
        value(
            metrics.registry,
            "talkavocado_orchestrator_retries_total",
            state="audio-extraction",
            error="States.Timeout",
        )
        == 1
    )


async def test_a_failed_job_marks_its_span(
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    sent = _Sent()
    executor = Executor(Topics("t."), _NoManifests(), sent)  # type: ignore[arg-type]
    d = Driver(PIPELINE)
    d.submit()
    rows = {"job-1": d.job.to_json_bytes().decode()}
    failure = StepFailed(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        step_run_id=d.pending.step_run_id,
        state="audio-extraction",
        error=StepError(code=ErrorCode.INPUT_INVALID, message="not a video"),
        duration_sec=0.1,
    )
    row = await handle(rows, "job-1", failure, Trace(traceparent=TRACEPARENT), PIPELINE, executor)
    assert row is not None
    assert row.ended
    (span,) = named(spans, "orchestrator step.failed")
    assert span.status.status_code is StatusCode.ERROR
    assert "INPUT_INVALID" in (span.status.description or "")


async def test_consumer_lag_of_the_agent_inputs_only() -> None:
    class FakeFaustConsumer:
        _committed_offset = {TP("t.jobs.commands", 0): 4, TP("t.steps.results", 1): None}

        def assignment(self) -> set[Any]:
            return {
                TP("t.jobs.commands", 0),
                TP("t.steps.results", 1),
                TP("orch-job-state-changelog", 0),
            }

        async def highwaters(self, *tps: Any) -> dict[Any, int]:
            return dict.fromkeys(tps, 10)

        async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
            return dict.fromkeys(tps, 2)

    lags = await consumer_lag(FakeFaustConsumer(), {"t.jobs.commands", "t.steps.results"})
    assert lags == {TP("t.jobs.commands", 0): 6, TP("t.steps.results", 1): 8}


def test_record_headers_from_a_list_or_a_mapping() -> None:
    assert record_headers([("a", b"1"), ("b", None)]) == [("a", b"1")]
    assert record_headers({"traceparent": "x"}) == [("traceparent", b"x")]
    assert record_headers(None) == []
