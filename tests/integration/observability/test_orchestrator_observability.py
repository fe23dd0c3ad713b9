"""The orchestrator process on the real broker with in-process step workers: its /metrics page
counts retries, failures and status transitions, shows jobs by status and the consumer lag of
its inputs, and the trace of a submission runs through it into every step's span."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from talkavocado_common.events import JobSubmitted, Topics, new_event
from talkavocado_common.kafka import ensure_topics, free_port, trace_id
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import ErrorCode, JobOptions, JobStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from tests.integration.orchestrator.test_orchestrator_app import (
    final_status,
    orchestrator,
    recording,
    workers,
)
from tests.support.jobs import create_job
from tests.support.kafka import TRACEPARENT, TopicReader, publish
from tests.support.tracing import hex_span_id, hex_trace_id

pytestmark = pytest.mark.slow


async def submit_traced(kafka: KafkaSettings, storage: LocalStorage, job_id: str) -> None:
    keys = await create_job(storage, job_id)
    manifests = ManifestStore(storage)
    await manifests.update(keys, lambda m: m.model_copy(update={"status": JobStatus.PENDING}))
    manifest = await manifests.get(keys)
    assert manifest.input is not None
    payload = JobSubmitted(
        job_id=job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
        options=JobOptions(),
        input=manifest.input,
        manifest_key=keys.manifest,
    )
    event = new_event(
        "job.submitted",
        payload,
        source="/tests",
        subject=job_id,
        tenant_id=keys.tenant_id,
        correlation_id=f"corr-{job_id}",
        traceparent=TRACEPARENT,
    )
    await publish(kafka, Topics(kafka.topic_prefix).commands, event)


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rpartition(" ")[2])
    return None


async def test_metrics_page_and_one_trace_through_the_orchestrator(
    kafka: KafkaSettings,
    tmp_path: Path,
    spans: InMemorySpanExporter,
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    calls: list[str] = []
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka)
    port = free_port()
    with orchestrator(kafka, tmp_path / "storage", tmp_path, port) as process:
        async with (
            workers(
                kafka, storage, recording(calls, {"video-cuts": ErrorCode.TRANSIENT_DEPENDENCY})
            ),
            TopicReader(kafka, topics.status) as status,
            TopicReader(kafka, topics.steps("audio")) as audio_requests,
        ):
            await submit_traced(kafka, storage, "job-failing")
            await submit_traced(kafka, storage, "job-ok")
            await status.wait_for(final_status("job-failing"), within=60)
            await status.wait_for(final_status("job-ok"), within=60)
            requests = await audio_requests.wait_for(lambda seen: len(seen) >= 2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            # Jobs ran, so the table was recovered and the partitions assigned.
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"ready": True, "recovered": True, "rebalancing": False}
            deadline = time.monotonic() + 20
            while True:
                text = (await http.get("/metrics")).text
                if sample(text, "talkavocado_consumer_lag", topic=topics.results) is not None:
                    break
                assert time.monotonic() < deadline, text[-3000:]
                await asyncio.sleep(0.3)
        assert process.poll() is None, (tmp_path / "orchestrator.log").read_text()[-3000:]

    failed = {"code": "TRANSIENT_DEPENDENCY", "state": "video-cuts"}
    retried = {"state": "video-cuts", "error": "TRANSIENT_DEPENDENCY"}
    assert sample(text, "talkavocado_orchestrator_retries_total", **retried) == 3.0
    assert sample(text, "talkavocado_orchestrator_jobs_failed_total", **failed) == 1.0
    transitions = "talkavocado_orchestrator_job_transitions_total"
    assert sample(text, transitions, status="completed") == 1.0
    assert sample(text, transitions, status="failed") == 1.0
    assert sample(text, "talkavocado_orchestrator_jobs", status="completed") == 1.0
    assert sample(text, "talkavocado_orchestrator_jobs", status="failed") == 1.0
    assert sample(text, "talkavocado_orchestrator_events_total", outcome="applied") is not None
    for topic in (topics.commands, topics.results):
        lag = sample(text, "talkavocado_consumer_lag", service="orchestrator", topic=topic)
        assert lag == 0.0, (topic, text[-3000:])
    assert sample(text, "talkavocado_consumer_lag", topic="orch-job-state-changelog") is None

    # One trace: the submission's traceparent → the orchestrator's span (whose context the
    # step.requested carries) → the step worker's span, for every step of both jobs.
    for request in requests:
        assert request.event is not None
        assert trace_id(request.event.traceparent) == trace_id(TRACEPARENT)
        assert request.event.traceparent != TRACEPARENT  # a span of the orchestrator's own
        assert request.headers["traceparent"] == request.event.traceparent
    step_spans = [s for s in spans.get_finished_spans() if s.name.startswith("step ")]
    assert len(step_spans) >= 12
    assert {hex_trace_id(s) for s in step_spans} == {trace_id(TRACEPARENT)}
    parents = {f"{s.parent.span_id:016x}" for s in step_spans if s.parent is not None}
    assert len(parents) == len(step_spans)  # each step under its own orchestrator span
    assert TRACEPARENT.split("-")[2] not in parents
    audio_spans = {
        hex_span_id(s)
        for s in step_spans
        if dict(s.attributes or {}).get("talkavocado.step") == "audio-extraction"
    }
    assert len(audio_spans) == 2
