"""The step worker against the real broker: heartbeats then one result per step, failures with
their error codes, dead letters, and commits only after the result."""

from __future__ import annotations

import httpx
import pytest

from talkavocado_common.events import StepFailed, StepHeartbeat, StepSucceeded, Topics
from talkavocado_common.kafka import EventConsumer, KafkaPublisher, trace_id
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import StepStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import JobKeys, LocalStorage
from tests.support.jobs import create_job
from tests.support.kafka import (
    TRACEPARENT,
    Received,
    TopicReader,
    count,
    of_type,
    publish,
    publish_raw,
    step_requested,
)

from .conftest import Calls, Workers, make_handlers


def for_run(seen: list[Received], run_id: str) -> list[Received]:
    return [r for r in seen if getattr(r.payload, "step_run_id", None) == run_id]


async def test_heartbeats_then_succeeded_with_trace_and_manifest(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, calls: Calls
) -> None:
    keys = await create_job(storage, "job-ok")
    running = await workers.start(make_handlers(calls))
    request = step_requested(
        job_id="job-ok",
        step="echo",
        context={"value": 42, "seconds": 1.2, "options": {"planner": {"minPauseMs": 700}}},
        heartbeat_seconds=0.9,
        correlation_id="corr-ok",
    )
    async with TopicReader(kafka, topics.results) as results:
        await publish(kafka, topics.steps("audio"), request)
        seen = await results.wait_for(count(of_type("step.succeeded")))
    events = for_run(seen, "job-ok/echo/1")
    types = [r.type for r in events]
    # ≥ 1 heartbeat (one at start, then every 0.3 s for 1.2 s), all before the one result.
    assert types[-1] == "step.succeeded"
    assert types.count("step.heartbeat") >= 4
    assert set(types[:-1]) == {"step.heartbeat"}
    done = events[-1].payload
    assert isinstance(done, StepSucceeded)
    assert done.result == {"echo": 42, "pauseMs": 700}
    assert done.duration_sec >= 1.2
    progress = [r.payload.progress for r in events[:-1] if isinstance(r.payload, StepHeartbeat)]
    assert progress == sorted(progress)
    for r in events:
        assert r.event is not None
        assert r.event.correlationid == "corr-ok"
        assert trace_id(r.event.traceparent) == trace_id(TRACEPARENT)
        assert r.headers["x-correlation-id"] == "corr-ok"
        assert r.key == b"job-ok"
        assert r.event.source == "/talkavocado/audio"
    manifest = await ManifestStore(storage).get(keys)
    assert manifest.steps["echo"].status == StepStatus.SUCCEEDED

    port = running.worker.metrics_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["group"] == "talkavocado.audio"
        metrics = (await http.get("/metrics")).text
        assert (await http.get("/nope")).status_code == 404
    assert (
        'talkavocado_step_duration_seconds_count{outcome="succeeded",service="audio",step="echo"} 1.0'
        in metrics
    )
    assert 'talkavocado_steps_in_flight{service="audio"} 0.0' in metrics
    assert 'talkavocado_step_heartbeats_total{service="audio"}' in metrics

    await running.stop()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/healthz")


async def test_failures_carry_the_error_code(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, calls: Calls
) -> None:
    await create_job(storage, "job-boom")
    await create_job(storage, "job-unknown")
    await create_job(storage, "job-opts")
    running = await workers.start(make_handlers(calls))
    async with TopicReader(kafka, topics.results) as results:
        await publish(
            kafka,
            topics.steps("audio"),
            step_requested(job_id="job-boom", step="boom"),
            step_requested(job_id="job-unknown", step="transcription"),
            step_requested(
                job_id="job-opts", step="echo", context={"options": {"planner": {"minPauseMs": 1}}}
            ),
            step_requested(job_id="job-missing", step="echo"),
        )
        seen = await results.wait_for(count(of_type("step.failed"), 4))
    failures = {
        r.payload.job_id: r.payload.error for r in seen if isinstance(r.payload, StepFailed)
    }
    assert failures["job-boom"].code == "CODEC_UNSUPPORTED"
    assert failures["job-boom"].message == "the recording uses a codec we cannot read"
    assert failures["job-unknown"].code == "INTERNAL"
    assert "no step 'transcription'" in failures["job-unknown"].message
    assert "echo" in failures["job-unknown"].message
    assert failures["job-opts"].code == "INPUT_INVALID"
    assert "planner.minPauseMs" in failures["job-opts"].message
    assert failures["job-missing"].code == "INPUT_NOT_FOUND"  # no manifest for that job
    assert calls.started == {"job-boom": 1}
    manifest = await ManifestStore(storage).get(JobKeys("test", "tenant-a", "job-boom"))
    assert manifest.steps["boom"].status == StepStatus.FAILED
    samples = running.worker.metrics.registry.get_sample_value(
        "talkavocado_step_failures_total",
        {"service": "audio", "step": "boom", "code": "CODEC_UNSUPPORTED"},
    )
    assert samples == 1


async def test_result_before_commit_and_no_redo_after_restart(
    kafka: KafkaSettings,
    topics: Topics,
    storage: LocalStorage,
    workers: Workers,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    real_publish, real_ack = KafkaPublisher.publish, EventConsumer.ack

    async def publish_spy(self: KafkaPublisher, topic: str, event):  # type: ignore[no-untyped-def]
        meta = await real_publish(self, topic, event)
        order.append(event.type)
        return meta

    async def ack_spy(self: EventConsumer, delivery):  # type: ignore[no-untyped-def]
        order.append("commit")
        return await real_ack(self, delivery)

    monkeypatch.setattr(KafkaPublisher, "publish", publish_spy)
    monkeypatch.setattr(EventConsumer, "ack", ack_spy)

    await create_job(storage, "job-once")
    first = await workers.start(make_handlers(calls))
    async with TopicReader(kafka, topics.results) as results:
        await publish(kafka, topics.steps("audio"), step_requested(job_id="job-once", step="echo"))
        await results.wait_for(count(of_type("step.succeeded")))
        assert order[-2:] == ["step.succeeded", "commit"]
        assert "commit" not in order[:-1]
        await first.stop()

        # A new member of the group starts after the committed offset: nothing is redone.
        await workers.start(make_handlers(calls))
        assert await results.quiet(2.0) == []
    assert calls.started == {"job-once": 1}


async def test_garbage_on_the_step_topic_goes_to_the_dlq_and_work_goes_on(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, calls: Calls
) -> None:
    await create_job(storage, "job-after")
    running = await workers.start(make_handlers(calls))
    await publish_raw(kafka, topics.steps("audio"), b"{not json", key=b"job-after")
    async with TopicReader(kafka, topics.results) as results:
        await publish(kafka, topics.steps("audio"), step_requested(job_id="job-after", step="echo"))
        await results.wait_for(count(of_type("step.succeeded")))
    async with TopicReader(kafka, topics.dlq) as dlq:
        (letter,) = await dlq.wait_for(count(of_type("dlq.dead-letter")))
    assert letter.payload is not None
    assert letter.payload.consumer == "talkavocado.audio"  # type: ignore[attr-defined]
    assert (
        running.worker.metrics.registry.get_sample_value(
            "talkavocado_dead_letters_total", {"service": "audio"}
        )
        == 1
    )
