"""The faust orchestrator as a real process on the real (embedded) broker, with step workers
whose handlers only record: jobs run through the ASL document to completed or failed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from talkavocado_common.asl import default_pipeline_path
from talkavocado_common.events import JobSubmitted, Topics, new_event
from talkavocado_common.kafka import ensure_topics, free_port
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import ErrorCode, JobOptions, JobStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepError, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.topology import step_services, steps_of
from talkavocado_common.worker import StepWorker, WorkerSettings
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, publish, publish_raw

pytestmark = pytest.mark.slow

# Every step of the topology, so a new step is run here too (as a recorded no-op).
SERVICES = {service: list(steps_of(service)) for service in step_services()}


def fast_pipeline(tmp: Path) -> Path:
    """The real document with retries a test can wait for."""
    doc = json.loads(default_pipeline_path().read_text())
    for state in doc["States"].values():
        for retrier in state.get("Retry", []):
            retrier["IntervalSeconds"] = 0.2
            retrier["MaxDelaySeconds"] = 0.5
    path = tmp / "pipeline.asl.json"
    path.write_text(json.dumps(doc))
    return path


@contextlib.contextmanager
def orchestrator(
    kafka: KafkaSettings,
    storage: Path,
    tmp: Path,
    port: int | None = None,
    *,
    env: dict[str, str] | None = None,
    module: str = "talkavocado_orchestrator",
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m talkavocado_orchestrator` (or `module`) with its web server on `port`
    (default: a free one), output appended to tmp/orchestrator.log, stopped with SIGTERM.
    `env` adds to or overrides its environment (e.g. the same ORCHESTRATOR_APP_ID for a
    restart)."""
    env = {
        **os.environ,
        **kafka.to_env(),
        "STORAGE_URL": str(storage),
        "ORCHESTRATOR_APP_ID": f"orch-{uuid.uuid4().hex[:8]}",
        "ORCHESTRATOR_WEB_PORT": str(port or free_port()),
        "ORCHESTRATOR_DATA_DIR": str(tmp / "faust"),
        "ORCHESTRATOR_TICK_SECONDS": "0.2",
        "ORCHESTRATOR_PIPELINE": str(fast_pipeline(tmp)),
        **(env or {}),
    }
    log = (tmp / "orchestrator.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def recording(
    calls: list[str], failing: dict[str, ErrorCode] | None = None
) -> dict[str, dict[str, StepHandler]]:
    def make(step: str) -> StepHandler:
        async def handler(req: StepRequest, env: StepEnv) -> StepResult:
            calls.append(step)
            if failing and step in failing and req.keys.job_id.startswith("job-failing"):
                raise StepError(failing[step], f"{step} keeps failing")
            return {"did": step}

        return handler

    return {service: {step: make(step) for step in steps} for service, steps in SERVICES.items()}


@contextlib.asynccontextmanager
async def workers(
    kafka: KafkaSettings, storage: LocalStorage, handlers: dict[str, dict[str, StepHandler]]
) -> AsyncIterator[None]:
    # Three workers in one process: each its own free metrics port.
    settings = WorkerSettings(metrics_port=0)
    running = [
        StepWorker(service, group, kafka, storage, settings=settings)
        for service, group in handlers.items()
    ]
    tasks = [asyncio.create_task(w.run()) for w in running]
    async with asyncio.timeout(30):
        await asyncio.gather(*(w.ready.wait() for w in running))
    try:
        yield
    finally:
        for w in running:
            w.request_stop(grace=1)
        await asyncio.gather(*tasks, return_exceptions=True)


async def submit(
    kafka: KafkaSettings, storage: LocalStorage, job_id: str, options: dict[str, Any] | None = None
) -> JobKeys:
    keys = await create_job(storage, job_id)
    manifests = ManifestStore(storage)
    await manifests.update(keys, lambda m: m.model_copy(update={"status": JobStatus.PENDING}))
    manifest = await manifests.get(keys)
    assert manifest.input is not None
    payload = JobSubmitted(
        job_id=job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
        options=JobOptions.model_validate(options or {}),
        input=manifest.input,
        manifest_key=keys.manifest,
    )
    event = new_event(
        "job.submitted",
        payload,
        source="/tests",
        subject=job_id,
        tenant_id=keys.tenant_id,
        correlation_id="corr-orch",
    )
    await publish(kafka, Topics(kafka.topic_prefix).commands, event)
    return keys


def final_status(job_id: str):  # type: ignore[no-untyped-def]
    def done(seen: list[Any]) -> bool:
        return any(
            r.type == "job.status-changed"
            and r.payload.job_id == job_id
            and r.payload.status in (JobStatus.COMPLETED, JobStatus.FAILED)
            for r in seen
        )

    return done


async def test_jobs_run_to_completion_and_failure(kafka: KafkaSettings, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    calls: list[str] = []
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka)
    with orchestrator(kafka, tmp_path / "storage", tmp_path) as process:
        async with (
            workers(
                kafka, storage, recording(calls, {"video-cuts": ErrorCode.TRANSIENT_DEPENDENCY})
            ),
            TopicReader(kafka, topics.status) as status,
        ):
            failing = await submit(kafka, storage, "job-failing")
            try:
                await status.wait_for(final_status("job-failing"), within=60)
            except AssertionError:
                seen = [(r.payload.status, r.payload.state, r.payload.message) for r in status.seen]
                crashed = [
                    t.exception()
                    for t in asyncio.all_tasks()
                    if t.done() and not t.cancelled() and t.exception()
                ]
                raise AssertionError(f"{seen}; calls {calls}; crashed {crashed}") from None
            ok_calls_start = len(calls)
            # Garbage on the orchestrator's input goes to the dead-letter topic; jobs carry on.
            await publish_raw(kafka, topics.commands, b"\x00 not an event", key=b"job-ok")
            ok = await submit(kafka, storage, "job-ok", {"transitions": {"enabled": True}})
            await status.wait_for(final_status("job-ok"), within=60)
        assert process.poll() is None, (tmp_path / "orchestrator.log").read_text()[-3000:]
    completed = await ManifestStore(storage).get(ok)
    assert completed.status is JobStatus.COMPLETED
    assert completed.error is None
    assert calls[ok_calls_start:] == [
        "audio-extraction",
        "transcription",
        "smart-cut-planner",
        "video-cuts",
        "video-transitions",
        "subtitles-post-edit",
        "timeline-export",
        "branding-layer",
    ]
    progress = [r.payload.progress for r in status.seen if r.payload.job_id == "job-ok"]
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert all(r.event.correlationid == "corr-orch" for r in status.seen)
    async with TopicReader(kafka, topics.dlq) as dlq:
        (letter,) = await dlq.wait_for(lambda seen: len(seen) >= 1)
    assert letter.type == "dlq.dead-letter"
    assert letter.payload is not None
    assert letter.payload.topic == topics.commands  # type: ignore[attr-defined]
    assert "not JSON" in letter.payload.reason  # type: ignore[attr-defined]
    manifest = await ManifestStore(storage).get(failing)
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code is ErrorCode.TRANSIENT_DEPENDENCY
    assert manifest.error.step == "video-cuts"
    assert calls[:ok_calls_start].count("video-cuts") == 4  # first try + 3 retries
    statuses = [r.payload.status for r in status.seen if r.payload.job_id == "job-failing"]
    assert statuses[0] is JobStatus.PROCESSING
    assert statuses[-1] is JobStatus.FAILED
