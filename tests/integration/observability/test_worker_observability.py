"""A step worker on the real (embedded) broker, observed from outside: its JSON log lines during
a step carry the job's context, /metrics has the step histogram and the consumer lag, /readyz
goes 503 → 200 → 503 (warm-up, serving, draining), and the step's span continues the trace of
the request's traceparent."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from talkavocado_common.events import StepSucceeded, Topics
from talkavocado_common.kafka import trace_id
from talkavocado_common.observability import JsonFormatter
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepRequest, StepResult
from talkavocado_common.storage import LocalStorage
from talkavocado_common.worker import StepWorker, WorkerSettings
from tests.support.jobs import create_job
from tests.support.kafka import (
    TRACEPARENT,
    Received,
    TopicReader,
    count,
    of_type,
    publish,
    step_requested,
)
from tests.support.tracing import hex_span_id, hex_trace_id, named

STEP_LOGGER = "tests.observability.step"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's log records as JSON lines (the formatter configure_logging installs)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("audio"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class Gates:
    def __init__(self) -> None:
        self.warm = asyncio.Event()
        self.step = asyncio.Event()
        self.started = asyncio.Event()


def handlers(gates: Gates) -> dict[str, Any]:
    async def gated(req: StepRequest, env: StepEnv) -> StepResult:
        step_log = logging.getLogger(STEP_LOGGER)
        step_log.info("gated step running for %s", req.keys.job_id)
        await asyncio.to_thread(step_log.info, "work in a thread")
        gates.started.set()
        await gates.step.wait()
        return {"done": req.keys.job_id}

    return {"gated": gated}


@pytest.fixture
async def running(
    kafka: KafkaSettings,
    tmp_path: Path,
) -> AsyncIterator[tuple[StepWorker, asyncio.Task[None], Gates, LocalStorage]]:
    gates = Gates()
    storage = LocalStorage(tmp_path / "storage")

    async def warmup() -> None:
        await gates.warm.wait()

    worker = StepWorker(
        "audio",
        handlers(gates),
        kafka,
        storage,
        settings=WorkerSettings(
            metrics_host="127.0.0.1",
            metrics_port=0,
            shutdown_grace_seconds=10,
            heartbeat_default_seconds=3,
        ),
        warmup=warmup,
        lag_interval=0.2,
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker, task, gates, storage
    finally:
        gates.warm.set()
        gates.step.set()
        if not task.done():
            worker.request_stop(0)
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 20)


async def until(predicate: Any, within: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def lag_samples(metrics: str, topic: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for line in metrics.splitlines():
        if line.startswith("talkavocado_consumer_lag{") and f'topic="{topic}"' in line:
            labels, _, number = line.rpartition(" ")
            partition = int(labels.split('partition="')[1].split('"')[0])
            out[partition] = float(number)
    return out


async def test_logs_metrics_readiness_and_trace_of_a_step(
    running: tuple[StepWorker, asyncio.Task[None], Gates, LocalStorage],
    kafka: KafkaSettings,
    topics: Topics,
    json_log: io.StringIO,
    spans: InMemorySpanExporter,
) -> None:
    worker, task, gates, storage = running
    await create_job(storage, "job-obs-1", tenant_id="tenant-obs")
    await create_job(storage, "job-obs-1b", tenant_id="tenant-obs")

    async def port() -> int | None:
        assert not task.done(), task
        return worker.metrics_port

    base = f"http://127.0.0.1:{await until(port, what='the metrics server')}"
    async with httpx.AsyncClient(base_url=base) as http:
        await _assert_warming_up(http)
        gates.warm.set()
        await _assert_ready(http)
        seen = await _run_two_steps_of_one_job(http, kafka, topics, gates)
        await _assert_step_metrics(http, kafka, topics)
        await _assert_draining_during_a_step(http, worker, kafka, topics, gates)
    await asyncio.wait_for(task, 20)

    span_ids = _assert_step_spans_continue_the_trace(spans)
    _assert_results_carry_the_span_context(seen, span_ids)
    _assert_step_logs_carry_the_job_context(json_log, span_ids)


async def _assert_warming_up(http: httpx.AsyncClient) -> None:
    """Warming up: alive, not ready."""
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["warmedUp"] is False
    assert (await http.get("/healthz")).status_code == 200
    assert 'talkavocado_worker_ready{service="audio"} 0.0' in (await http.get("/metrics")).text


async def _assert_ready(http: httpx.AsyncClient) -> None:
    async def is_ready() -> bool:
        return (await http.get("/readyz")).status_code == 200

    await until(is_ready, what="/readyz 200")
    body = (await http.get("/readyz")).json()
    assert body == {
        "status": "ready",
        "service": "audio",
        "group": "talkavocado.audio",
        "warmedUp": True,
        "joined": True,
        "draining": False,
    }


async def _run_two_steps_of_one_job(
    http: httpx.AsyncClient, kafka: KafkaSettings, topics: Topics, gates: Gates
) -> list[Received]:
    """Runs two traced steps of job-obs-1, checking the consumer lag while the first is held;
    returns the results topic as seen once both succeeded."""
    async with TopicReader(kafka, topics.results) as results:
        # Two steps of one job on one partition: the second waits behind the first.
        first = step_requested(
            job_id="job-obs-1",
            step="gated",
            tenant_id="tenant-obs",
            correlation_id="corr-obs-1",
            traceparent=TRACEPARENT,
        )
        second = step_requested(
            job_id="job-obs-1",
            step="gated",
            attempt=2,
            tenant_id="tenant-obs",
            correlation_id="corr-obs-1",
            traceparent=TRACEPARENT,
        )
        await publish(kafka, topics.steps("audio"), first, second)
        await asyncio.wait_for(gates.started.wait(), 20)

        # Both records are uncommitted while the first runs: the lag gauge says 2.
        async def lag_is_two() -> bool:
            text = (await http.get("/metrics")).text
            return 2.0 in lag_samples(text, topics.steps("audio")).values()

        await until(lag_is_two, what="a consumer lag of 2")

        gates.step.set()
        return await results.wait_for(count(of_type("step.succeeded"), 2), within=30)


async def _assert_step_metrics(
    http: httpx.AsyncClient, kafka: KafkaSettings, topics: Topics
) -> None:
    async def lag_is_zero() -> bool:
        text = (await http.get("/metrics")).text
        samples = lag_samples(text, topics.steps("audio"))
        return bool(samples) and set(samples.values()) == {0.0}

    await until(lag_is_zero, what="the consumer lag back to 0")
    metrics = (await http.get("/metrics")).text
    assert (
        'talkavocado_step_duration_seconds_count{outcome="succeeded",service="audio",'
        'step="gated"} 2.0' in metrics
    )
    assert 'talkavocado_worker_ready{service="audio"} 1.0' in metrics
    assert 'talkavocado_worker_warmup_seconds{service="audio"}' in metrics
    # One partition per assigned partition of the step topic (3).
    assert len(lag_samples(metrics, topics.steps("audio"))) == kafka.partitions


async def _assert_draining_during_a_step(
    http: httpx.AsyncClient,
    worker: StepWorker,
    kafka: KafkaSettings,
    topics: Topics,
    gates: Gates,
) -> None:
    """Draining: not ready any more, still alive while the step in flight finishes."""
    gates.step.clear()
    gates.started.clear()
    await publish(
        kafka,
        topics.steps("audio"),
        step_requested(job_id="job-obs-1b", step="gated", tenant_id="tenant-obs", traceparent=None),
    )
    await asyncio.wait_for(gates.started.wait(), 20)
    worker.request_stop(10)
    draining = await http.get("/readyz")
    assert draining.status_code == 503
    assert draining.json()["draining"] is True
    assert (await http.get("/healthz")).status_code == 200
    gates.step.set()


def _assert_step_spans_continue_the_trace(spans: InMemorySpanExporter) -> set[str]:
    """The traced steps' spans continue the request's trace; returns their span ids."""
    step_spans = named(spans, "step gated")
    assert len(step_spans) == 3
    traced = [s for s in step_spans if hex_trace_id(s) == trace_id(TRACEPARENT)]
    assert len(traced) == 2
    (untraced,) = [s for s in step_spans if s not in traced]
    assert untraced.parent is None  # no traceparent in the request: a trace of its own
    for span in traced:
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
        attributes = dict(span.attributes or {})
        assert attributes["talkavocado.job_id"] == "job-obs-1"
        assert attributes["talkavocado.tenant_id"] == "tenant-obs"
    return {hex_span_id(s) for s in traced}


def _assert_results_carry_the_span_context(seen: list[Received], span_ids: set[str]) -> None:
    done = [r for r in seen if isinstance(r.payload, StepSucceeded)]
    assert len(done) == 2
    for result in done:
        assert result.event is not None
        assert result.event.traceparent is not None
        assert trace_id(result.event.traceparent) == trace_id(TRACEPARENT)
        assert result.event.traceparent.split("-")[2] in span_ids
        assert result.headers["traceparent"] == result.event.traceparent
    beats = [r for r in seen if r.type == "step.heartbeat"]
    assert beats
    assert all(
        r.event is not None
        and r.event.traceparent is not None
        and r.event.traceparent.split("-")[2] in span_ids
        for r in beats
    )


def _assert_step_logs_carry_the_job_context(json_log: io.StringIO, span_ids: set[str]) -> None:
    """Every line logged during the first job's steps carries its context and its span."""
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    during = [line for line in lines if line["jobId"] == "job-obs-1"]
    messages = {line["message"] for line in during}
    assert "gated step running for job-obs-1" in messages
    assert "work in a thread" in messages
    assert any(m.startswith("gated of job job-obs-1 succeeded") for m in messages)
    for line in during:
        assert line["tenantId"] == "tenant-obs", line
        assert line["step"] == "gated", line
        assert line["correlationId"] == "corr-obs-1", line
        assert line["service"] == "audio", line
        assert line["traceId"] == trace_id(TRACEPARENT), line
        assert line["spanId"] in span_ids, line
    # Lines outside any step have the keys, with nulls.
    outside = [line for line in lines if line["message"].startswith("audio worker consuming")]
    assert outside
    assert (outside[0]["jobId"], outside[0]["step"], outside[0]["traceId"]) == (None, None, None)


async def test_a_failing_warm_up_stops_the_worker(
    kafka: KafkaSettings,
    tmp_path: Path,
) -> None:
    async def broken() -> None:
        raise RuntimeError("model files missing")

    worker = StepWorker(
        "audio",
        {},
        kafka,
        LocalStorage(tmp_path / "s"),
        settings=WorkerSettings(metrics_host="127.0.0.1", metrics_port=0),
        warmup=broken,
    )
    from talkavocado_common.worker import WorkerCrashed

    with pytest.raises(WorkerCrashed, match="model files missing"):
        await asyncio.wait_for(worker.run(), 20)
    assert worker.readiness()[0] is False
