"""POST /jobs/{id}/cancel and /retry, and the SSE stream of status changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anyio

from talkavocado_api.service import UPLOAD_STEP
from talkavocado_common.events import JobStatusChanged, new_event
from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus, Manifest

from .support import TENANT_A, Api, build_api, make_settings

PARAMS = {"tenantId": TENANT_A}


async def set_status(api: Api, job_id: str, status: JobStatus, **update: Any) -> None:
    def change(m: Manifest) -> Manifest:
        return m.model_copy(update={"status": status, **update})

    await api.manifests.update(api.keys(job_id), change)


def status_event(job_id: str, status: JobStatus, progress: float, state: str | None = None) -> Any:
    payload = JobStatusChanged(
        job_id=job_id, tenant_id=TENANT_A, env="test", status=status, progress=progress, state=state
    )
    return new_event(
        "job.status-changed",
        payload,
        source="orchestrator",
        subject=job_id,
        tenant_id=TENANT_A,
        correlation_id="corr-orch",
    )


def frames(text: str) -> list[dict[str, Any]]:
    """The data of each SSE event frame (comments skipped)."""
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "data" in fields:
            assert fields["event"] == "job.status-changed"
            out.append(json.loads(fields["data"]))
    return out


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
    await set_status(api, job["jobId"], JobStatus.PROCESSING)
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
        await set_status(api, job["jobId"], status)
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
    await set_status(api, job["jobId"], JobStatus.FAILED, error=error)
    response = await api.client.post(f"/jobs/{job['jobId']}/retry", params=PARAMS)
    assert response.status_code == 202
    assert response.json() == {"jobId": job["jobId"], "status": "failed", "requested": "retry"}
    [event] = api.publisher.of_type("job.retry-requested")
    assert event.data == {"jobId": job["jobId"], "tenantId": TENANT_A, "env": "test"}


async def test_retry_unless_failed_is_409(api: Api) -> None:
    job = await api.submitted_job()
    for status in (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED):
        await set_status(api, job["jobId"], status)
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


# --- events -------------------------------------------------------------------------------


async def test_events_start_with_the_current_status_and_end_after_a_terminal_one(
    api: Api,
) -> None:
    job = await api.submitted_job()
    job_id = job["jobId"]
    await set_status(api, job_id, JobStatus.PROCESSING)

    async def orchestrator() -> None:
        with anyio.fail_after(5):
            await api.feed.wait_for_subscriber(job_id)
        api.feed.push(status_event("someone-else", JobStatus.COMPLETED, 1.0))
        api.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.25, "transcription"))
        api.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.5, "smart-cut-planner"))
        api.feed.push(status_event(job_id, JobStatus.COMPLETED, 1.0, "mark-complete"))
        api.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.9, "late"))

    pusher = asyncio.create_task(orchestrator())
    with anyio.fail_after(10):
        response = await api.client.get(
            f"/jobs/{job_id}/events", params=PARAMS, headers={"x-correlation-id": "corr-sse"}
        )
    await pusher
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = frames(response.text)
    assert [(e["data"]["status"], e["data"].get("state")) for e in events] == [
        ("processing", None),
        ("processing", "transcription"),
        ("processing", "smart-cut-planner"),
        ("completed", "mark-complete"),
    ]
    assert events[0]["correlationid"] == "corr-sse"
    assert events[0]["type"] == "job.status-changed"
    assert events[1]["correlationid"] == "corr-orch"
    assert api.feed.subscriber_count(job_id) == 0


async def test_events_of_an_ended_job_are_one_frame(api: Api) -> None:
    job = await api.create_job()
    await api.client.post(f"/jobs/{job['jobId']}/cancel", params=PARAMS)
    response = await api.client.get(f"/jobs/{job['jobId']}/events", params=PARAMS)
    [event] = frames(response.text)
    assert event["data"]["status"] == "cancelled"
    assert api.feed.subscriber_count(job["jobId"]) == 0


async def test_keep_alives_and_a_missed_terminal_event(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(sse_keepalive_seconds=0.05))
    async with built.client:
        job = await built.submitted_job()
        job_id = job["jobId"]

        async def finish_without_telling_the_feed() -> None:
            await built.feed.wait_for_subscriber(job_id)
            await anyio.sleep(0.2)
            await set_status(built, job_id, JobStatus.COMPLETED)

        task = asyncio.create_task(finish_without_telling_the_feed())
        with anyio.fail_after(10):
            response = await built.client.get(f"/jobs/{job_id}/events", params=PARAMS)
        await task
    assert ": keep-alive\n\n" in response.text
    assert [e["data"]["status"] for e in frames(response.text)] == ["pending", "completed"]


async def test_events_of_an_unknown_job_are_404_without_subscribing(api: Api) -> None:
    response = await api.client.get("/jobs/0190000000000-00/events", params=PARAMS)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert api.feed.subscriber_count("0190000000000-00") == 0


async def test_upload_step_failure_shows_in_the_first_event(api: Api) -> None:
    job = await api.create_job(size=10)
    await api.upload(job, b"0123456789")
    response = await api.client.get(f"/jobs/{job['jobId']}/events", params=PARAMS)
    [event] = frames(response.text)
    assert event["data"]["status"] == "failed"
    assert event["data"]["error"]["code"] == "INPUT_INVALID"
    manifest = await api.manifests.get(api.keys(job["jobId"]))
    assert manifest.steps[UPLOAD_STEP].status == "failed"
