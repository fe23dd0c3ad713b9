"""The API over real HTTP: a generated recording streamed in chunks, probed by ffprobe and
submitted; a text file refused; Range on the stored input; SSE; readiness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx

from talkavocado_common.events import JobStatusChanged, decode, encode, new_event
from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.storage.s3 import S3Storage

from .conftest import TENANT, Recording, Server

PARAMS = {"tenantId": TENANT}


async def file_chunks(path: Path, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(size):
            yield chunk


async def create(server: Server, name: str, size: int, mime: str = "video/mp4") -> dict[str, Any]:
    response = await server.client.post(
        "/jobs",
        json={
            "tenantId": TENANT,
            "input": {"originalFilename": name, "bytes": size, "mimeType": mime},
            "options": {"transitions": {"enabled": True}},
        },
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_recording_upload_is_probed_and_submitted(
    server: Server, recording: Recording
) -> None:
    size = recording.path.stat().st_size
    job = await create(server, "demo talk.mp4", size)
    response = await server.client.put(
        job["uploadUrl"],
        content=file_chunks(recording.path),
        headers={"x-correlation-id": "it-upload-1", "content-type": "video/mp4"},
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-correlation-id"] == "it-upload-1"
    uploaded = response.json()["input"]
    assert uploaded["bytes"] == size
    assert uploaded["hasVideo"]
    assert uploaded["hasAudio"]
    assert abs(uploaded["durationSec"] - recording.duration) < 0.2

    with anyio.fail_after(5):
        event = await server.publisher.wait_for("job.submitted")
    assert event.correlationid == "it-upload-1"
    _, payload = decode(encode(event))
    assert payload.model_dump(by_alias=True)["input"]["key"] == uploaded["key"]
    assert event.data["options"]["transitions"]["enabled"] is True

    stored, _ = await server.storage.read_bytes(uploaded["key"])
    assert stored == recording.path.read_bytes()

    # Range on the uploaded input: exact bytes, as a browser seeking in the video would get.
    original = recording.path.read_bytes()
    url = f"/jobs/{job['jobId']}/artifacts/input/demo_talk.mp4"
    for header, start, end in [
        ("bytes=0-1023", 0, 1023),
        ("bytes=1000000-1065535", 1_000_000, 1_065_535),
        ("bytes=-4096", size - 4096, size - 1),
    ]:
        ranged = await server.client.get(url, params=PARAMS, headers={"Range": header})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert ranged.headers["content-type"] == "video/mp4"
        assert ranged.content == original[start : end + 1]
    beyond = await server.client.get(url, params=PARAMS, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416

    view = (await server.client.get(f"/jobs/{job['jobId']}", params=PARAMS)).json()
    assert view["status"] == "pending"


async def test_an_artifact_link_downloads_the_artifact(
    server: Server, recording: Recording
) -> None:
    job = await create(server, "talk.mp4", recording.path.stat().st_size)
    uploaded = await server.client.put(job["uploadUrl"], content=file_chunks(recording.path))
    assert uploaded.status_code == 202, uploaded.text
    path = f"/jobs/{job['jobId']}/links/input/talk.mp4"
    link = (await server.client.get(path, params=PARAMS)).json()
    assert link["bytes"] == recording.path.stat().st_size
    if isinstance(server.storage, S3Storage):
        # Presigned: no API key, straight from the object store, for a limited time. The
        # store checks the signature and the expiry (tests/support/s3_gate.py).
        assert link["direct"] is True
        assert link["expiresAt"] is not None
        async with httpx.AsyncClient() as anonymous:
            fetched = await anonymous.get(link["url"])
        assert link["url"].startswith(server.storage.options.public_endpoint_url or "")
    else:
        # The API's own URL, with the tenant and a signature: followed as given, without a key
        # (what a browser's <video> element does).
        assert link["direct"] is True
        assert link["url"].startswith(
            f"/jobs/{job['jobId']}/artifacts/input/talk.mp4?tenantId={TENANT}&expires="
        )
        async with httpx.AsyncClient(base_url=str(server.client.base_url)) as anonymous:
            fetched = await anonymous.get(link["url"])
    assert fetched.status_code == 200
    assert fetched.content == recording.path.read_bytes()
    missing = await server.client.get(
        f"/jobs/{job['jobId']}/links/renders/final.mp4", params=PARAMS
    )
    assert missing.status_code == 404


def tampered(url: str) -> str:
    """`url` with the last hex digit of its signature changed."""
    head, _, signature = url.partition("X-Amz-Signature=")
    digits, rest = signature[:64], signature[64:]
    last = "0" if digits[-1] != "0" else "1"
    return f"{head}X-Amz-Signature={digits[:-1]}{last}{rest}"


async def test_presigned_links_are_checked_by_the_store(
    server: Server, recording: Recording
) -> None:
    """A wrongly signed, re-pointed or expired link is refused by the object store itself."""
    if not isinstance(server.storage, S3Storage):
        return  # local storage has no presigned links (the API URL needs the key)
    job = await create(server, "talk.mp4", recording.path.stat().st_size)
    uploaded = await server.client.put(job["uploadUrl"], content=file_chunks(recording.path))
    assert uploaded.status_code == 202, uploaded.text
    link = (
        await server.client.get(f"/jobs/{job['jobId']}/links/input/talk.mp4", params=PARAMS)
    ).json()["url"]
    key = server.keys(job["jobId"]).input("talk.mp4")
    # X-Amz-Date has whole seconds: a 1 s link may be expired by the time a loaded machine
    # follows it, so it gets 3.
    short = await server.storage.presigned_url(key, expires_seconds=3)
    assert short is not None
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(link)).status_code == 200
        wrong = await anonymous.get(tampered(link))
        assert wrong.status_code == 403
        assert b"SignatureDoesNotMatch" in wrong.content
        # The same signature for another object of the bucket: refused.
        elsewhere = link.replace("/input/talk.mp4?", "/manifest.json?")
        assert elsewhere != link
        assert (await anonymous.get(elsewhere)).status_code == 403
        assert (await anonymous.get(short)).status_code == 200
        await asyncio.sleep(4.2)
        expired = await anonymous.get(short)
        assert expired.status_code == 403
        assert b"expired" in expired.content


async def raw_get(url: str, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET `raw_path` byte for byte (no client normalises `..` away); (status, body)."""
    parts = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parts.host, parts.port)
    lines = [f"GET {raw_path} HTTP/1.1", f"Host: {parts.host}:{parts.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_traversal_in_raw_paths_is_refused_by_the_handler(
    server: Server, recording: Recording
) -> None:
    """`..` sent as is (httpx would normalise it away before sending): the route is reached
    and refuses with its own 400, or no route matches (404); never another job's file."""
    job = await create(server, "talk.mp4", recording.path.stat().st_size)
    uploaded = await server.client.put(job["uploadUrl"], content=file_chunks(recording.path))
    assert uploaded.status_code == 202, uploaded.text
    other = await create(server, "other.mp4", 10)
    job_id, key = job["jobId"], {"Authorization": server.client.headers["Authorization"]}
    query = f"?tenantId={TENANT}"
    handled = [  # the handler's answer: the path parameter is checked (ARTIFACT_PATH_PATTERN)
        f"/jobs/{job_id}/links/../x{query}",
        f"/jobs/{job_id}/links/input/../manifest.json{query}",
        f"/jobs/{job_id}/artifacts/../{other['jobId']}/manifest.json{query}",
        f"/jobs/{job_id}/artifacts/input/..%2F..%2F{other['jobId']}%2Fmanifest.json{query}",
        f"/jobs/{job_id}/artifacts/%2E%2E/x{query}",
    ]
    for raw in handled:
        status, body = await raw_get(server.url, raw, key)
        assert status == 400, (raw, body)
        answer = json.loads(body)
        assert answer["error"] == "invalid_request", raw
        assert answer["detail"].startswith("path: invalid artifact path"), (raw, answer)
    # A `..` that climbs out of the job segment leaves no route to reach.
    status, body = await raw_get(server.url, f"/jobs/{job_id}/../../etc/passwd{query}", key)
    assert status == 404, body
    assert json.loads(body)["error"] == "not_found"
    # The same raw request with a clean path is served: the raw client itself works.
    status, body = await raw_get(server.url, f"/jobs/{job_id}/artifacts/input/talk.mp4{query}", key)
    assert status == 200
    assert body == recording.path.read_bytes()


async def test_text_file_named_mp4_is_refused_and_recorded(server: Server, tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("Meeting notes\n- record the talk\n- upload it\n" * 50)
    job = await create(server, "notes.mp4", notes.stat().st_size)
    response = await server.client.put(job["uploadUrl"], content=file_chunks(notes, 512))
    assert response.status_code == 422
    data = response.json()
    assert data["error"] == "input_invalid"
    assert data["detail"] == (
        "The file is not a video recording that can be read. It contains text, not audio or video."
    )
    manifest = await server.manifests.get(server.keys(job["jobId"]))
    assert manifest.status == JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code == ErrorCode.INPUT_INVALID
    assert server.publisher.events == []


async def test_upload_larger_than_declared_is_413(server: Server) -> None:
    job = await create(server, "a.mp4", 1000)
    response = await server.client.put(job["uploadUrl"], content=b"\0" * 2000)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def status_event(job_id: str, status: JobStatus, progress: float, state: str) -> Any:
    return new_event(
        "job.status-changed",
        JobStatusChanged(
            job_id=job_id, tenant_id=TENANT, env="it", status=status, progress=progress, state=state
        ),
        source="orchestrator",
        subject=job_id,
        tenant_id=TENANT,
        correlation_id="it-orch",
    )


async def read_frames(lines: AsyncIterator[str], count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async for line in lines:
        if line.startswith("data: "):
            frames.append(json.loads(line.removeprefix("data: ")))
            if len(frames) == count:
                break
    return frames


async def test_sse_streams_status_changes_as_they_happen(server: Server) -> None:
    job = await create(server, "a.mp4", 10)
    job_id = job["jobId"]
    with anyio.fail_after(15):
        async with server.client.stream("GET", f"/jobs/{job_id}/events", params=PARAMS) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            [first] = await read_frames(lines, 1)
            assert first["data"]["status"] == "pending"
            # Events arrive one by one while the stream stays open.
            server.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.1, "audio-extraction"))
            [second] = await read_frames(lines, 1)
            assert second["data"]["state"] == "audio-extraction"
            server.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.6, "video-cuts"))
            server.feed.push(status_event(job_id, JobStatus.COMPLETED, 1.0, "mark-complete"))
            rest = await read_frames(lines, 2)
            assert [f["data"]["status"] for f in rest] == ["processing", "completed"]
            remaining = [line async for line in lines]  # the server ends the stream
            assert not [line for line in remaining if line.startswith("data:")]
    assert server.feed.subscriber_count(job_id) == 0


async def test_sse_client_going_away_unsubscribes(server: Server) -> None:
    job = await create(server, "a.mp4", 10)
    job_id = job["jobId"]
    with anyio.fail_after(15):
        async with server.client.stream("GET", f"/jobs/{job_id}/events", params=PARAMS) as response:
            await read_frames(response.aiter_lines(), 1)
            assert server.feed.subscriber_count(job_id) == 1
        while server.feed.subscriber_count(job_id):
            server.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.1, "tick"))
            await asyncio.sleep(0.05)


async def test_keep_alive_comments_while_idle(server: Server) -> None:
    job = await create(server, "a.mp4", 10)
    with anyio.fail_after(15):
        async with server.client.stream(
            "GET", f"/jobs/{job['jobId']}/events", params=PARAMS
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    assert line == ": keep-alive"
                    break


async def test_readiness_reports_the_failing_dependency(server: Server) -> None:
    anonymous = {"Authorization": ""}
    ready = await server.client.get("/readyz", headers=anonymous)
    assert ready.status_code == 200
    server.broker["up"] = False
    down = await server.client.get("/readyz", headers=anonymous)
    assert down.status_code == 503
    assert down.json()["failed"] == ["broker"]
    assert "connection refused" in down.json()["detail"]
    assert (await server.client.get("/healthz", headers=anonymous)).status_code == 200
