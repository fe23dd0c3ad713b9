"""The reconciler's pass over the index of active jobs, with a recording `send`: what it
publishes (to jobs.commands, keyed by job id), what it removes from the index, and that one
broken job does not stop the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from talkavocado_common.active_jobs import ActiveJobs
from talkavocado_common.events import CloudEvent, Topics
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import JobStatus, Manifest, StepRecord, StepStatus
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_orchestrator.reconciler import Reconciler
from tests.support.jobs import create_job

NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(minutes=10)


class Sent:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, CloudEvent]] = []

    async def __call__(self, topic: str, key: str, event: CloudEvent) -> None:
        self.events.append((topic, key, event))


class Harness:
    def __init__(self, root: Path) -> None:
        self.storage = LocalStorage(root)
        self.manifests = ManifestStore(self.storage)
        self.index = ActiveJobs(self.storage, "test")
        self.sent = Sent()
        self.reconciler = Reconciler(
            index=self.index,
            manifests=self.manifests,
            topics=Topics("ta."),
            send=self.sent,
            grace=timedelta(seconds=30),
        )

    async def job(self, job_id: str, status: JobStatus, **steps: StepStatus) -> JobKeys:
        keys = await create_job(self.storage, job_id)
        await self.index.add(keys)
        records = {
            name.replace("_", "-"): StepRecord(
                status=s, attempts=1, started_at=LONG_AGO, finished_at=LONG_AGO
            )
            for name, s in steps.items()
        }

        def change(m: Manifest) -> Manifest:
            return m.model_copy(update={"status": status, "steps": records})

        await self.manifests.update(keys, change)
        return keys


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_a_pass_resubmits_resumes_and_forgets(harness: Harness) -> None:
    await harness.job("job-unsent", JobStatus.PENDING, upload=StepStatus.SUCCEEDED)
    await harness.job("job-running", JobStatus.PROCESSING, audio_extraction=StepStatus.SUCCEEDED)
    await harness.job("job-uploading", JobStatus.PENDING, upload=StepStatus.RUNNING)
    done = await harness.job("job-done", JobStatus.COMPLETED)
    gone = JobKeys("test", "tenant-a", "job-gone")
    await harness.index.add(gone)
    outcome = await harness.reconciler.reconcile(NOW)
    assert outcome == {"resubmit": 1, "resume": 1, "wait": 1, "forget": 2}
    sent = {(topic, key, event.type) for topic, key, event in harness.sent.events}
    assert sent == {
        ("ta.jobs.commands", "job-unsent", "job.submitted"),
        ("ta.jobs.commands", "job-running", "job.resume-requested"),
    }
    resume = next(e for _, _, e in harness.sent.events if e.type == "job.resume-requested")
    assert resume.data["succeeded"] == ["audio-extraction"]
    assert resume.subject == "job-running"
    remaining = {keys.job_id for keys in await harness.index.list()}
    assert remaining == {"job-unsent", "job-running", "job-uploading"}
    assert done not in await harness.index.list()


async def test_an_entry_is_put_back_when_a_retry_made_the_job_active_meanwhile(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = await harness.job("job-retried", JobStatus.FAILED)
    real_remove = harness.index.remove

    async def remove_then_retry(k: JobKeys) -> None:
        await real_remove(k)
        # The API indexes the job and publishes the retry; the orchestrator marks it processing.
        await harness.index.add(k)
        await harness.manifests.update(
            k, lambda m: m.model_copy(update={"status": JobStatus.PROCESSING})
        )
        await real_remove(k)  # the worst order: the reconciler's delete lands last

    monkeypatch.setattr(harness.index, "remove", remove_then_retry)
    await harness.reconciler.reconcile(NOW)
    assert await harness.index.list() == [keys]


async def test_a_broken_manifest_does_not_stop_the_pass(harness: Harness) -> None:
    broken = await harness.job("job-broken", JobStatus.PROCESSING)
    await harness.storage.write_bytes(broken.manifest, b"{not json")
    await harness.job("job-ok", JobStatus.PROCESSING)
    outcome = await harness.reconciler.reconcile(NOW)
    assert outcome == {"error": 1, "resume": 1}
    assert broken in await harness.index.list()
    await harness.reconciler.run()  # logs, never raises
