"""The API's part of atomic submission: a job is in the index of active jobs before its upload is
recorded (so a crash before `job.submitted` is published leaves it to the reconciler, which
submits it), and again before a retry is published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from talkavocado_api.usecases.common import UPLOAD_STEP as API_UPLOAD_STEP
from talkavocado_common.active_jobs import UPLOAD_STEP, ActiveJobs, Resubmit, Wait, decide
from talkavocado_common.models import JobStatus, StepStatus
from talkavocado_common.storage import JobKeys

from ..support import CTX, ENV, Api, media


class Crash(BaseException):
    """The process dies (here: while publishing the submission)."""


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_the_index_reads_the_apis_upload_record() -> None:
    assert UPLOAD_STEP == API_UPLOAD_STEP


async def test_a_created_job_is_not_indexed_until_its_upload(api: Api) -> None:
    job = await api.create_job()
    index = ActiveJobs(api.storage, ENV)
    assert await index.list() == []
    await api.upload(job, media(1000))
    assert await index.list() == [api.keys(job["jobId"])]


async def test_a_crash_before_the_submission_is_published_leaves_it_to_the_reconciler(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await api.create_job()
    keys = api.keys(job["jobId"])

    async def crash(topic: str, event: object) -> None:
        raise Crash

    monkeypatch.setattr(api.publisher, "publish", crash)
    with pytest.raises(Crash):
        await api.use_cases.upload(CTX, job["jobId"], body(media(1000)), content_length=1000)
    manifest = await api.manifests.get(keys)
    # Neither re-uploadable nor retryable by the client: the upload is recorded, the job pending.
    assert manifest.status is JobStatus.PENDING
    assert manifest.steps["upload"].status is StepStatus.SUCCEEDED
    assert api.publisher.events == []
    # ... but indexed, so the reconciler publishes it once the grace period is over.
    assert await ActiveJobs(api.storage, ENV).list() == [keys]
    recorded = manifest.steps["upload"].finished_at
    assert recorded is not None
    grace = timedelta(seconds=30)
    assert isinstance(decide(keys, manifest, recorded + timedelta(seconds=5), grace), Wait)
    decision = decide(keys, manifest, recorded + grace, grace)
    assert isinstance(decision, Resubmit)
    assert decision.event.manifest_key == keys.manifest
    assert decision.event.input == manifest.input


async def test_a_retry_indexes_the_job_again(api: Api) -> None:
    job = await api.submitted_job()
    keys: JobKeys = api.keys(job["jobId"])
    index = ActiveJobs(api.storage, ENV)
    await index.remove(keys)  # as the reconciler does once the job has failed
    await api.set_status(job["jobId"], JobStatus.FAILED)
    response = await api.client.post(f"/jobs/{job['jobId']}/retry", params={"tenantId": "tenant-a"})
    assert response.status_code == 202, response.text
    assert await index.list() == [keys]
