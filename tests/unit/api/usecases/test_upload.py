"""Upload the recording: PUT /jobs/{id}/input streamed to storage, sizes enforced, probed, then
submitted (202)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_api.usecases.errors import (
    Conflict,
    InputRejected,
    InvalidInput,
    JobNotFound,
    Unavailable,
    UploadTooLarge,
)
from talkavocado_common.events import decode, encode
from talkavocado_common.models import ErrorCode, JobStatus, StepRecord, StepStatus
from talkavocado_common.models.manifest import Manifest

from ..support import AV, CTX, TENANT_A, VIDEO_ONLY, Api, build_api, make_settings, media


async def chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_upload_stores_probes_and_submits(api: Api) -> None:
    job = await api.create_job(size=5000)
    content = media(5000)
    response = await api.client.put(
        job["uploadUrl"], content=chunks(content), headers={"x-correlation-id": "corr-up-1"}
    )
    assert response.status_code == 202, response.text
    data = response.json()
    key = f"test/{TENANT_A}/{job['jobId']}/input/talk.mp4"
    assert data["input"] == {
        "key": key,
        "originalFilename": "talk.mp4",
        "bytes": 5000,
        "mimeType": "video/mp4",
        "durationSec": 12.5,
        "hasVideo": True,
        "hasAudio": True,
    }
    assert data["status"] == "pending"
    assert (await api.storage.read_bytes(key))[0] == content

    [(topic, event)] = api.publisher.events
    assert topic == "talkavocado.jobs.commands"
    assert event.type == "job.submitted"
    assert event.subject == job["jobId"]
    assert event.tenantid == TENANT_A
    assert event.correlationid == "corr-up-1"
    decoded, payload = decode(encode(event))  # valid on the wire
    assert payload.model_dump()["manifest_key"] == job["manifestKey"]
    assert decoded.data["input"]["key"] == key

    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.steps[UPLOAD_STEP].status == StepStatus.SUCCEEDED
    assert manifest.status == JobStatus.PENDING
    assert "input uploaded: 5000 bytes, 12.5 s, h264 320x240, aac audio" in [
        log.message for log in manifest.logs
    ]


async def test_second_upload_is_409(api: Api) -> None:
    job = await api.submitted_job()
    response = await api.upload(job, media(1000))
    assert response.status_code == 409
    assert response.json()["detail"] == "the input was already uploaded"
    assert len(api.publisher.events) == 1


async def test_content_length_above_declared_is_413_before_reading(api: Api) -> None:
    job = await api.create_job(size=1000)
    response = await api.upload(job, media(1001))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await api.storage.list(f"test/{TENANT_A}/{job['jobId']}/input/") == []
    assert (await api.upload(job, media(1000))).status_code == 202  # nothing was claimed


async def test_streamed_body_above_declared_is_413_and_the_claim_released(api: Api) -> None:
    job = await api.create_job(size=1000)
    response = await api.client.put(job["uploadUrl"], content=chunks(media(5000)))
    assert response.status_code == 413
    assert await api.storage.list(f"test/{TENANT_A}/{job['jobId']}/input/") == []
    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.steps[UPLOAD_STEP].status == StepStatus.FAILED
    assert manifest.status == JobStatus.PENDING
    retry = await api.client.put(job["uploadUrl"], content=chunks(media(1000)))
    assert retry.status_code == 202
    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.steps[UPLOAD_STEP].attempts == 2


async def test_maximum_upload_size_applies_while_streaming(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(MAX_UPLOAD_BYTES=4000))
    async with built.client:
        job = await built.create_job(size=4000)
        built.settings.max_upload_bytes = 2000  # lowered after the job was created
        response = await built.client.put(job["uploadUrl"], content=chunks(media(4000)))
    assert response.status_code == 413
    assert "larger than 2000 bytes" in response.json()["detail"]


async def test_short_upload_is_400_and_deleted(api: Api) -> None:
    job = await api.create_job(size=1000)
    response = await api.client.put(job["uploadUrl"], content=chunks(media(400)))
    assert response.status_code == 400
    assert response.json()["detail"] == "upload incomplete: received 400 of the declared 1000 bytes"
    assert await api.storage.list(f"test/{TENANT_A}/{job['jobId']}/input/") == []
    short = await api.client.put(
        job["uploadUrl"], content=media(400), headers={"content-length": "400"}
    )
    assert short.status_code == 400
    assert "does not match the declared" in short.json()["detail"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some notes\n" * 80, "It contains text, not audio or video."),
        (b"\x00\x01\x02garbage" * 100, "Check that it is an MP4"),
        (VIDEO_ONLY + b"\x00" * 987, "The video has no sound track"),
    ],
)
async def test_a_file_that_is_not_a_recording_is_422_and_recorded(
    api: Api, content: bytes, message: str
) -> None:
    job = await api.create_job(size=len(content))
    response = await api.upload(job, content)
    assert response.status_code == 422
    data = response.json()
    assert data["error"] == "input_invalid"
    assert message in data["detail"]
    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.status == JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code == ErrorCode.INPUT_INVALID
    assert message in manifest.error.message
    assert api.publisher.events == []
    view = (await api.client.get(f"/jobs/{job['jobId']}", params={"tenantId": TENANT_A})).json()
    assert view["status"] == "failed"
    assert view["error"]["code"] == "INPUT_INVALID"
    again = await api.upload(job, media(len(content)))
    assert again.status_code == 409


async def test_upload_in_progress_elsewhere_is_409_until_its_claim_is_stale(api: Api) -> None:
    job = await api.create_job()
    keys = api.keys(job["jobId"])

    def claim(age: timedelta) -> Any:
        def change(m: Manifest) -> Manifest:
            record = StepRecord(
                status=StepStatus.RUNNING, attempts=1, started_at=m.created_at - age
            )
            return m.model_copy(update={"steps": {UPLOAD_STEP: record}})

        return change

    await api.manifests.update(keys, claim(timedelta(0)))
    response = await api.upload(job, media(1000))
    assert response.status_code == 409
    assert response.json()["detail"] == "an upload for this job is already in progress"

    await api.manifests.update(keys, claim(timedelta(days=1)))  # the uploader died long ago
    assert (await api.upload(job, media(1000))).status_code == 202


async def test_publish_failure_is_503_and_the_upload_can_be_repeated(api: Api) -> None:
    job = await api.create_job()
    api.publisher.fail_with = ConnectionError("broker down")
    response = await api.upload(job, media(1000))
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.steps[UPLOAD_STEP].status == StepStatus.FAILED
    api.publisher.fail_with = None
    assert (await api.upload(job, media(1000))).status_code == 202
    assert len(api.publisher.of_type("job.submitted")) == 1


async def test_upload_to_a_cancelled_job_is_409(api: Api) -> None:
    job = await api.create_job()
    cancel = await api.client.post(f"/jobs/{job['jobId']}/cancel", params={"tenantId": TENANT_A})
    assert cancel.status_code == 200
    response = await api.upload(job, media(1000))
    assert response.status_code == 409
    assert response.json()["status"] == "cancelled"


async def test_missing_ffprobe_is_503_before_reading_the_body(tmp_path: Path) -> None:
    built = build_api(tmp_path)
    built.use_cases.upload.probe.available = lambda: False
    async with built.client:
        job = await built.create_job()
        response = await built.upload(job, media(1000))
    assert response.status_code == 503
    assert "ffprobe" in response.json()["detail"]


async def test_upload_of_unknown_job_is_404(api: Api) -> None:
    response = await api.client.put(
        "/jobs/0190000000000-0000000000000000/input",
        params={"tenantId": TENANT_A},
        content=AV,
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_job_cancelled_during_the_upload_is_not_submitted(api: Api) -> None:
    job = await api.create_job(size=1000)
    content = media(1000)

    async def cancel_midway() -> AsyncIterator[bytes]:
        yield content[:500]
        cancel = await api.client.post(
            f"/jobs/{job['jobId']}/cancel", params={"tenantId": TENANT_A}
        )
        assert cancel.status_code == 200
        yield content[500:]

    response = await api.client.put(job["uploadUrl"], content=cancel_midway())
    assert response.status_code == 409
    assert response.json()["status"] == "cancelled"
    assert api.publisher.events == []


# --- the use case, without HTTP ---------------------------------------------------------------


async def test_upload_use_case_returns_what_was_accepted(api: Api) -> None:
    job = await api.create_job(size=1000)
    accepted = await api.use_cases.upload(
        CTX, job["jobId"], chunks(media(1000)), content_length=None
    )
    assert accepted.job_id == job["jobId"]
    assert accepted.input.bytes == 1000
    assert (accepted.input.has_video, accepted.input.has_audio) == (True, True)
    assert [e.type for _, e in api.publisher.events] == ["job.submitted"]
    with pytest.raises(Conflict, match="already uploaded") as caught:
        await api.use_cases.upload(CTX, job["jobId"], chunks(media(1000)), content_length=None)
    assert caught.value.status == JobStatus.PENDING


async def test_upload_use_case_refusals_are_domain_errors(api: Api) -> None:
    upload = api.use_cases.upload
    job_id = (await api.create_job(size=1000))["jobId"]
    with pytest.raises(UploadTooLarge) as too_large:
        await upload(CTX, job_id, chunks(media(1000)), content_length=1001)
    assert (too_large.value.limit, too_large.value.declared) == (1000, 1000)
    with pytest.raises(InvalidInput, match=r"^Content-Length 999 does not match"):
        await upload(CTX, job_id, chunks(media(1000)), content_length=999)
    with pytest.raises(InvalidInput, match=r"^upload incomplete: received 100 of"):
        await upload(CTX, job_id, chunks(media(100)), content_length=None)
    with pytest.raises(JobNotFound):
        await upload(CTX, "0190000000000-00", chunks(media(1000)), content_length=None)
    api.publisher.fail_with = ConnectionError("down")
    with pytest.raises(Unavailable):
        await upload(CTX, job_id, chunks(media(1000)), content_length=None)
    api.publisher.fail_with = None
    with pytest.raises(InputRejected, match="no sound track"):
        await upload(CTX, job_id, chunks(VIDEO_ONLY + bytes(988)), content_length=None)
    manifest = await api.manifests.get(api.keys(job_id))
    assert manifest.status == JobStatus.FAILED
    # Content-Length refusals come before a claim; the other three claimed and gave it back.
    assert manifest.steps[UPLOAD_STEP].attempts == 3
