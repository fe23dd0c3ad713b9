"""Follow a job's status: GET /jobs/{id}/events (SSE), and the use case's typed items."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_api.usecases.errors import JobNotFound
from talkavocado_api.usecases.stream import KeepAlive, StatusUpdate
from talkavocado_common.events import JobStatusChanged, new_event
from talkavocado_common.models import JobStatus

from ..support import CTX, TENANT_A, Api, build_api, make_settings

PARAMS = {"tenantId": TENANT_A}


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


async def test_events_start_with_the_current_status_and_end_after_a_terminal_one(
    api: Api,
) -> None:
    job = await api.submitted_job()
    job_id = job["jobId"]
    await api.set_status(job_id, JobStatus.PROCESSING)

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
            await built.set_status(job_id, JobStatus.COMPLETED)

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


# --- the use case, without HTTP ---------------------------------------------------------------


async def test_stream_items_are_typed_and_closing_unsubscribes(tmp_path: Path) -> None:
    built = build_api(tmp_path, make_settings(sse_keepalive_seconds=0.05))
    job_id = (await built.submitted_job())["jobId"]
    with pytest.raises(JobNotFound):
        await built.use_cases.stream.open(CTX, "0190000000000-00")
    items = await built.use_cases.stream.open(CTX, job_id)
    assert built.feed.subscriber_count(job_id) == 0  # nothing before the first item
    with anyio.fail_after(5):
        first = await anext(items)
        assert isinstance(first, StatusUpdate)
        assert first.event.data["status"] == "pending"
        assert first.event.correlationid == CTX.correlation_id
        assert built.feed.subscriber_count(job_id) == 1
        assert isinstance(await anext(items), KeepAlive)
        built.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.5, "render"))
        update = await anext(items)
        assert isinstance(update, StatusUpdate)
        assert update.event.data["state"] == "render"
        await items.aclose()
    assert built.feed.subscriber_count(job_id) == 0
    await built.client.aclose()


async def test_stream_ends_after_a_terminal_status(api: Api) -> None:
    job_id = (await api.submitted_job())["jobId"]
    items = await api.use_cases.stream.open(CTX, job_id)
    with anyio.fail_after(5):
        assert isinstance(await anext(items), StatusUpdate)
        api.feed.push(status_event(job_id, JobStatus.COMPLETED, 1.0, "mark-complete"))
        assert isinstance(await anext(items), StatusUpdate)
        with pytest.raises(StopAsyncIteration):
            await anext(items)
    assert api.feed.subscriber_count(job_id) == 0
