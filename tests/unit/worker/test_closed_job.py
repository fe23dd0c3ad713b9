"""Nothing is written into a job that has ended: the manifest refuses a step's changes, run_step
removes what a cancelled run wrote, and the worker's stop reasons read from the manifest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from talkavocado_common.events import StepRequested
from talkavocado_common.manifest_changes import (
    STEP_WRITERS,
    RecordRenders,
    RecordStep,
    RecordTimeline,
    SetStatus,
    refuses,
)
from talkavocado_common.manifest_store import JobClosed, ManifestStore
from talkavocado_common.models import JobStatus, Manifest, StepRecord, StepStatus
from talkavocado_common.step_runner import run_step
from talkavocado_common.steps import StepEnv, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.worker.core import stop_reason
from tests.support.jobs import create_job

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


def test_step_writers_are_refused_on_ended_jobs_only() -> None:
    assert "api" not in STEP_WRITERS
    assert "orchestrator" not in STEP_WRITERS
    assert {"step-runner", "branding-layer", "audio-extraction"} <= STEP_WRITERS
    for status in JobStatus:
        ended = status in (JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.COMPLETED)
        assert refuses("branding-layer", status) is ended
        assert refuses("orchestrator", status) is False
        assert refuses(None, status) is False


async def test_the_manifest_refuses_a_step_change_once_cancelled(storage: LocalStorage) -> None:
    keys = await create_job(storage, "job-1")
    manifests = ManifestStore(storage)
    await manifests.update(keys, RecordTimeline("t.json"))
    await manifests.update(keys, SetStatus(JobStatus.CANCELLED, None))
    with pytest.raises(JobClosed, match="cancelled"):
        await manifests.update(keys, RecordRenders(()))
    # The orchestrator (and anything without a step writer) still writes.
    await manifests.update(keys, SetStatus(JobStatus.CANCELLED, None))
    assert (await manifests.get(keys)).plan.timeline == "t.json"


def request(keys: JobKeys, step: str = "video-cuts") -> StepRequest:
    return StepRequest(step=step, keys=keys)


async def test_a_run_refused_at_its_end_removes_what_it_wrote(storage: LocalStorage) -> None:
    keys = await create_job(storage, "job-2")
    manifests = ManifestStore(storage)

    async def handler(req: StepRequest, env: StepEnv) -> StepResult:
        await env.storage.write_bytes(req.keys.timeline, b"{}")
        await manifests.update(req.keys, SetStatus(JobStatus.CANCELLED, None))  # cancel lands
        return {}

    with pytest.raises(JobClosed):
        await run_step(handler, request(keys), storage=storage, manifests=manifests)
    assert not await storage.exists(keys.timeline)
    # The run's own end is refused; the cancel closed its record.
    assert (await manifests.get(keys)).steps["video-cuts"].status is StepStatus.CANCELLED


async def test_a_cancelled_task_of_a_cancelled_job_removes_what_it_wrote(
    storage: LocalStorage,
) -> None:
    keys = await create_job(storage, "job-3")
    other = await create_job(storage, "job-4")
    manifests = ManifestStore(storage)
    wrote = asyncio.Event()

    async def handler(req: StepRequest, env: StepEnv) -> StepResult:
        await env.storage.write_bytes(req.keys.timeline, b"{}")
        wrote.set()
        await asyncio.sleep(60)
        return {}

    async def run(k: JobKeys) -> None:
        await run_step(handler, request(k), storage=storage, manifests=manifests, run="r1")

    for k, cancel_job in ((keys, True), (other, False)):
        wrote.clear()
        task = asyncio.create_task(run(k))
        await wrote.wait()
        if cancel_job:
            await manifests.update(k, SetStatus(JobStatus.CANCELLED, None))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not await storage.exists(keys.timeline)  # cancelled job: removed
    assert await storage.exists(other.timeline)  # superseded or shut down: kept
    assert (await manifests.get(other)).steps["video-cuts"].run == "r1"


async def test_a_step_of_an_ended_job_is_not_run(storage: LocalStorage) -> None:
    keys = await create_job(storage, "job-5")
    manifests = ManifestStore(storage)
    await manifests.update(keys, SetStatus(JobStatus.COMPLETED, None))
    ran = False

    async def handler(req: StepRequest, env: StepEnv) -> StepResult:
        nonlocal ran
        ran = True
        return {}

    with pytest.raises(JobClosed):
        await run_step(handler, request(keys), storage=storage, manifests=manifests)
    assert not ran


def requested(attempt: int = 2) -> StepRequested:
    return StepRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        step_run_id=f"job-1/branding-layer/{attempt}",
        state="branding-layer",
        service="render",
        step="branding-layer",
        attempt=attempt,
        input={},
        deadline=NOW + timedelta(hours=1),
    )


async def test_stop_reasons(storage: LocalStorage) -> None:
    keys = await create_job(storage, "job-1")
    manifests = ManifestStore(storage)
    m = await manifests.get(keys)
    assert stop_reason(m, requested(), "mine", started=True) is None

    def with_record(attempts: int, run: str | None) -> Manifest:
        record = StepRecord(status=StepStatus.RUNNING, attempts=attempts, started_at=NOW, run=run)
        return RecordStep("branding-layer", record, "", "info", NOW)(m)

    older = with_record(1, "old")
    assert stop_reason(older, requested(), "mine", started=False) is None
    assert stop_reason(older, requested(), "mine", started=True) is None
    newer = with_record(3, "new")
    assert "attempt 3" in (stop_reason(newer, requested(), "mine", started=False) or "")
    taken = with_record(2, "theirs")
    # Before its own record is written, the previous execution's token is no reason to stop.
    assert stop_reason(taken, requested(), "mine", started=False) is None
    assert "same attempt" in (stop_reason(taken, requested(), "mine", started=True) or "")
    cancelled = SetStatus(JobStatus.CANCELLED, None)(m)
    assert stop_reason(cancelled, requested(), "mine", started=True) == "the job is cancelled"
