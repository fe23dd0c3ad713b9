"""The reconciler in the running orchestrator on the embedded broker: jobs that only storage
knows about — a submission the API recorded but never published (atomic submission), a job the
manifest says is processing but no orchestrator row holds (a restarted stack) — are carried to
the end, each exactly once, and ended jobs leave the index of active jobs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from talkavocado_common.active_jobs import UPLOAD_STEP, ActiveJobs
from talkavocado_common.events import JobStatusChanged, Topics
from talkavocado_common.kafka import ensure_topics, free_port
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import JobStatus, Manifest, StepRecord, StepStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage, Storage, open_storage
from tests.integration.orchestrator.test_orchestrator_app import SERVICES, fast_pipeline, workers
from tests.support.jobs import create_job
from tests.support.kafka import Received, TopicReader
from tests.support.s3 import S3Server, s3_server  # noqa: F401

pytestmark = pytest.mark.slow

ENV = "test"
LONG_AGO = datetime.now(UTC) - timedelta(minutes=5)


@contextlib.contextmanager
def orchestrator(
    kafka: KafkaSettings, storage: Path, tmp: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The orchestrator with a reconciler that runs every second and resubmits at once."""
    env = {
        **os.environ,
        **kafka.to_env(),
        "STORAGE_URL": str(storage),
        "TALKAVOCADO_ENV": ENV,
        "ORCHESTRATOR_APP_ID": f"orch-{uuid.uuid4().hex[:8]}",
        "ORCHESTRATOR_WEB_PORT": str(free_port()),
        "ORCHESTRATOR_DATA_DIR": str(tmp / "faust"),
        "ORCHESTRATOR_TICK_SECONDS": "0.2",
        "ORCHESTRATOR_RECONCILE_SECONDS": "1",
        "ORCHESTRATOR_RESUBMIT_GRACE_SECONDS": "2",
        "ORCHESTRATOR_PIPELINE": str(fast_pipeline(tmp)),
    }
    log = (tmp / "orchestrator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "talkavocado_orchestrator"], env=env, stdout=log, stderr=log
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


def recording(calls: list[tuple[str, str]]) -> dict[str, dict[str, StepHandler]]:
    def make(step: str) -> StepHandler:
        async def handler(req: StepRequest, env: StepEnv) -> StepResult:
            calls.append((req.keys.job_id, step))
            return {"did": step}

        return handler

    return {service: {step: make(step) for step in steps} for service, steps in SERVICES.items()}


def record(status: StepStatus, attempts: int = 1) -> StepRecord:
    return StepRecord(status=status, attempts=attempts, started_at=LONG_AGO, finished_at=LONG_AGO)


async def stranded(
    storage: LocalStorage, job_id: str, status: JobStatus, steps: dict[str, StepRecord]
) -> JobKeys:
    """A job as a crash leaves it: its manifest and its index entry, nothing on Kafka."""
    keys = await create_job(storage, job_id, env=ENV)
    await ActiveJobs(storage, ENV).add(keys)

    def crashed(m: Manifest) -> Manifest:
        return m.model_copy(update={"status": status, "steps": {**m.steps, **steps}})

    await ManifestStore(storage).update(keys, crashed)
    return keys


def ended(job_ids: set[str]) -> Callable[[list[Received]], bool]:
    def done(seen: list[Received]) -> bool:
        finished = {
            r.payload.job_id
            for r in seen
            if isinstance(r.payload, JobStatusChanged) and r.payload.status is JobStatus.COMPLETED
        }
        return job_ids <= finished

    return done


async def test_stranded_jobs_are_resubmitted_or_resumed_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    index = ActiveJobs(storage, ENV)
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka)
    # The API recorded the upload, then died before publishing job.submitted.
    unsent = await stranded(
        storage, "job-unsent", JobStatus.PENDING, {UPLOAD_STEP: record(StepStatus.SUCCEEDED)}
    )
    # The whole stack died during transcription; audio-extraction had finished.
    midway = await stranded(
        storage,
        "job-midway",
        JobStatus.PROCESSING,
        {
            "audio-extraction": record(StepStatus.SUCCEEDED),
            "transcription": record(StepStatus.RUNNING),
        },
    )
    # Ended, but the index still lists it; and an upload still in progress.
    done = await stranded(storage, "job-done", JobStatus.COMPLETED, {})
    uploading = await stranded(
        storage, "job-uploading", JobStatus.PENDING, {UPLOAD_STEP: record(StepStatus.RUNNING)}
    )
    calls: list[tuple[str, str]] = []
    with orchestrator(kafka, tmp_path / "storage", tmp_path) as process:
        async with (
            workers(kafka, storage, recording(calls)),
            TopicReader(kafka, topics.status) as status,
        ):
            await status.wait_for(ended({"job-unsent", "job-midway"}), within=60)
            await status.quiet(2.5)  # two more reconciler passes: nothing is run twice
        assert process.poll() is None, (tmp_path / "orchestrator.log").read_text()[-3000:]
    manifests = ManifestStore(storage)
    assert (await manifests.get(unsent)).status is JobStatus.COMPLETED
    assert (await manifests.get(midway)).status is JobStatus.COMPLETED
    completed = [
        r.payload.job_id
        for r in status.seen
        if isinstance(r.payload, JobStatusChanged) and r.payload.status is JobStatus.COMPLETED
    ]
    assert sorted(completed) == ["job-midway", "job-unsent"]
    midway_steps = [step for job, step in calls if job == "job-midway"]
    assert midway_steps[0] == "transcription"
    assert "audio-extraction" not in midway_steps
    assert len(midway_steps) == len(set(midway_steps))
    unsent_steps = [step for job, step in calls if job == "job-unsent"]
    assert unsent_steps[0] == "audio-extraction"
    assert len(unsent_steps) == len(set(unsent_steps))
    # Ended jobs left the index; the upload in progress is still there.
    assert await index.list() == [uploading]
    assert (await manifests.get(done)).status is JobStatus.COMPLETED


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    settings = server.settings(server.create_bucket(), prefix="prod")
    storage = open_storage(settings.storage_url, settings)
    try:
        yield storage
    finally:
        await storage.aclose()


async def test_the_index_lists_one_environments_jobs(backend: Storage) -> None:
    storage = backend
    index = ActiveJobs(storage, ENV)
    a, b = JobKeys(ENV, "tenant-a", "job-1"), JobKeys(ENV, "tenant-b", "job-2")
    await index.add(a)
    await index.add(b)
    await index.add(a)
    await ActiveJobs(storage, "other").add(JobKeys("other", "tenant-a", "job-3"))
    await storage.write_bytes(f"{ENV}/_active/tenant-a/not a job", b"{}")
    assert await index.list() == [a, b]
    assert await storage.list(f"{ENV}/tenant-a/") == []  # nothing under a tenant's prefix
    await index.remove(a)
    await index.remove(a)
    assert await index.list() == [b]
