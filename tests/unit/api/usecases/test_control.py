"""Control a job: POST /jobs/{id}/cancel and /retry, and the use case itself."""

from __future__ import annotations

import pytest

from talkavocado_api.usecases.control import cancel_before_upload
from talkavocado_api.usecases.errors import Conflict, JobNotFound, Unavailable
from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus

from ..support import CTX, TENANT_A, Api

PARAMS = {"tenantId": TENANT_A}


# --- cancel -------------------------------------------------------------------------------


async def test_cancel_before_upload_cancels_at_once(api: Api) -> None:
    job = await api.create_job()
    response = await api.client.post(f"/jobs/{job['jobId']}/cancel", params=PARAMS)
    assert response.status_code == 200
    assert response.json() == {"jobId": job["jobId"], "status": "cancelled", "requested": "cancel"}
    assert (await api.manifests.get(api.keys(job["jobId"]))).status == JobStatus.CANCELLED
    assert api.publisher.events == []


async def test_cancel_of_a_submitted_job_publishes_the_request(api: Api) -> None:
    job = await api.submitted_job()
    await api.set_status(job["jobId"], JobStatus.PROCESSING)
    response = await api.client.post(
        f"/jobs/{job['jobId']}/cancel",
        params=PARAMS,
        json={"reason": "wrong file"},
        headers={"x-correlation-id": "corr-cancel"},
    )
    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    event = api.publisher.of_type("job.cancel-requested")[0]
    assert event.data["reason"] == "wrong file"
    assert event.correlationid == "corr-cancel"
    assert event.subject == job["jobId"]


async def test_cancel_of_an_ended_job_is_409(api: Api) -> None:
    for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        job = await api.submitted_job()
        await api.set_status(job["jobId"], status)
        response = await api.client.post(f"/jobs/{job['jobId']}/cancel", params=PARAMS)
        assert response.status_code == 409
        assert response.json()["status"] == status.value
    assert api.publisher.of_type("job.cancel-requested") == []


async def test_cancel_publish_failure_is_503(api: Api) -> None:
    job = await api.submitted_job()
    api.publisher.fail_with = ConnectionError("down")
    response = await api.client.post(f"/jobs/{job['jobId']}/cancel", params=PARAMS)
    assert response.status_code == 503


# --- retry --------------------------------------------------------------------------------


async def test_retry_of_a_failed_job_publishes_the_request(api: Api) -> None:
    job = await api.submitted_job()
    error = ErrorInfo(code=ErrorCode.INTERNAL, message="boom", step="transcription")
    await api.set_status(job["jobId"], JobStatus.FAILED, error=error)
    response = await api.client.post(f"/jobs/{job['jobId']}/retry", params=PARAMS)
    assert response.status_code == 202
    assert response.json() == {"jobId": job["jobId"], "status": "failed", "requested": "retry"}
    [event] = api.publisher.of_type("job.retry-requested")
    ref = {"jobId": job["jobId"], "tenantId": TENANT_A, "env": "test"}
    # With the manifest's record, for an orchestrator that no longer has the job's row.
    resume = event.data.pop("resume")
    assert event.data == ref
    assert resume == {
        **ref,
        "manifestKey": api.keys(job["jobId"]).manifest,
        "options": resume["options"],
        "status": "failed",
        "succeeded": [],
        "attempts": {},
        "reason": "retry requested",
        "revision": None,  # the automatic edit failed, not a review's render
    }


async def test_retry_unless_failed_is_409(api: Api) -> None:
    job = await api.submitted_job()
    for status in (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED):
        await api.set_status(job["jobId"], status)
        response = await api.client.post(f"/jobs/{job['jobId']}/retry", params=PARAMS)
        assert response.status_code == 409
        assert response.json()["status"] == status.value
    assert api.publisher.of_type("job.retry-requested") == []


async def test_retry_of_a_rejected_upload_is_409(api: Api) -> None:
    job = await api.create_job(size=20)
    assert (await api.upload(job, b"plain text, no video")).status_code == 422
    response = await api.client.post(f"/jobs/{job['jobId']}/retry", params=PARAMS)
    assert response.status_code == 409
    assert "create a new job" in response.json()["detail"]


# --- the use cases, without HTTP --------------------------------------------------------------


async def test_cancel_use_case_returns_the_status_now(api: Api) -> None:
    never_uploaded = (await api.create_job())["jobId"]
    assert await api.use_cases.control.cancel(CTX, never_uploaded, None) == JobStatus.CANCELLED
    submitted = (await api.submitted_job())["jobId"]
    assert await api.use_cases.control.cancel(CTX, submitted, "oops") == JobStatus.PENDING
    [event] = api.publisher.of_type("job.cancel-requested")
    assert (event.data["reason"], event.correlationid) == ("oops", CTX.correlation_id)
    with pytest.raises(Conflict, match=r"already ended \(cancelled\)") as caught:
        await api.use_cases.control.cancel(CTX, never_uploaded, None)
    assert caught.value.status == JobStatus.CANCELLED
    with pytest.raises(JobNotFound):
        await api.use_cases.control.cancel(CTX, "0190000000000-00", None)


async def test_a_submission_racing_a_cancel_wins(api: Api) -> None:
    job_id = (await api.submitted_job())["jobId"]
    manifest = await api.manifests.get(api.keys(job_id))
    with pytest.raises(Conflict, match="submitted meanwhile") as caught:
        cancel_before_upload(manifest)
    assert caught.value.status is None


async def test_retry_use_case_refusals(api: Api) -> None:
    job_id = (await api.submitted_job())["jobId"]
    with pytest.raises(Conflict, match="only a failed job") as caught:
        await api.use_cases.control.retry(CTX, job_id)
    assert caught.value.status == JobStatus.PENDING
    error = ErrorInfo(code=ErrorCode.INTERNAL, message="boom", step="render")
    await api.set_status(job_id, JobStatus.FAILED, error=error)
    api.publisher.fail_with = ConnectionError("down")
    with pytest.raises(Unavailable):
        await api.use_cases.control.retry(CTX, job_id)
    api.publisher.fail_with = None
    assert await api.use_cases.control.retry(CTX, job_id) == JobStatus.FAILED
