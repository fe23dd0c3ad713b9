"""Admission control over real HTTP (uvicorn on loopback): N slow uploads hold every slot, the
N+1st is refused with 429 before its body is read, and a new upload is accepted once they have
finished; an upload whose client goes away mid-stream gives back its slot and its claim, and its
S3 multipart upload is aborted, so the job can simply be uploaded again.

The prober is a stand-in (the media check is tested elsewhere): these tests are about the
slots, the claim and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_api.admission import UploadSlots
from talkavocado_api.usecases import UseCases
from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.media import MediaInfo, StreamInfo
from talkavocado_common.models import JobStatus, StepStatus
from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import JobKeys, Storage, open_storage
from talkavocado_common.storage.s3 import MIN_PART_SIZE, S3Storage
from tests.support.http import serve_on_loopback
from tests.support.s3 import S3Server, s3_server  # noqa: F401

TENANT = "demo-tenant"
KEY = "xpHjw-h7yFTd8-47OYyLvAxtXYj6i4h4QYZM3OOD_m8"  # a random 256-bit key
ENV = "it"


async def stand_in_probe(path: Path) -> MediaInfo:
    video = StreamInfo(index=0, codec_type="video", codec_name="h264", width=320, height=240)
    audio = StreamInfo(index=1, codec_type="audio", codec_name="aac", sample_rate=48000)
    size = (await anyio.Path(path).stat()).st_size
    return MediaInfo("mov,mp4", 12.5, size, (video, audio))


class Api:
    def __init__(self, url: str, client: httpx.AsyncClient, storage: Storage, app: Any) -> None:
        self.url = url
        self.client = client
        self.storage = storage
        self.use_cases: UseCases = app.state.use_cases

    @property
    def slots(self) -> UploadSlots:
        return self.use_cases.upload.slots

    async def create(self, size: int) -> dict[str, Any]:
        response = await self.client.post(
            "/jobs",
            json={
                "tenantId": TENANT,
                "input": {"originalFilename": "talk.mp4", "bytes": size, "mimeType": "video/mp4"},
            },
        )
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    async def upload_running(self, job: dict[str, Any]) -> bool:
        return (await self.upload_state(job))[0] == StepStatus.RUNNING

    async def upload_state(self, job: dict[str, Any]) -> tuple[StepStatus | None, JobStatus]:
        manifest = await ManifestStore(self.storage).get(JobKeys(ENV, TENANT, job["jobId"]))
        record = manifest.steps.get(UPLOAD_STEP)
        return (record.status if record else None), manifest.status


async def serving(storage: Storage, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(
        ApiSettings(
            keys=f"{TENANT}:{KEY}", storage=StorageSettings(TALKAVOCADO_ENV=ENV), **settings
        ),
        storage=storage,
        publisher=InMemoryPublisher(),
        status_feed=InMemoryStatusFeed(),
        prober=stand_in_probe,
    )
    async with (
        serve_on_loopback(app) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client,
    ):
        yield Api(url, client, storage, app)
    await storage.aclose()


@pytest.fixture
async def local_api(tmp_path: Path) -> AsyncIterator[Api]:
    storage = open_storage(tmp_path / "storage")
    async for api in serving(storage, max_concurrent_uploads=2):
        yield api


@pytest.fixture
async def s3_api(s3_server: S3Server) -> AsyncIterator[Api]:  # noqa: F811
    env = s3_server.env(s3_server.create_bucket())
    settings = StorageSettings.model_validate({**env, "STORAGE_S3_PART_BYTES": MIN_PART_SIZE})
    storage = open_storage(settings.storage_url, settings)
    async for api in serving(storage):
        yield api


async def test_the_upload_beyond_the_limit_is_429_and_a_later_one_is_accepted(
    local_api: Api,
) -> None:
    api = local_api
    size = 200_000
    slow_jobs = [await api.create(size) for _ in range(2)]
    extra = await api.create(size)
    finish = anyio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"\x00" * 1000
        await finish.wait()
        yield b"\x00" * (size - 1000)

    results: list[int] = []

    async def slow_upload(job: dict[str, Any]) -> None:
        response = await api.client.put(job["uploadUrl"], content=slow_body())
        results.append(response.status_code)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            for job in slow_jobs:
                tasks.start_soon(slow_upload, job)
            while api.slots.in_use() < 2:  # noqa: ASYNC110 - state of the server's tasks
                await anyio.sleep(0.01)

            refused = await api.client.put(extra["uploadUrl"], content=b"\x00" * size)
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == "10"
            body = refused.json()
            assert body["error"] == "too_many_requests"
            assert body["retryAfterSeconds"] == 10
            assert "busy with 2 uploads" in body["detail"]
            assert await api.upload_state(extra) == (None, JobStatus.PENDING)  # not claimed
            finish.set()
    assert results == [202, 202]
    assert api.slots.in_use() == 0
    accepted = await api.client.put(extra["uploadUrl"], content=b"\x00" * size)
    assert accepted.status_code == 202, accepted.text


async def test_a_client_gone_mid_upload_leaves_the_job_uploadable(s3_api: Api) -> None:
    api = s3_api
    storage = api.storage
    assert isinstance(storage, S3Storage)
    size = MIN_PART_SIZE + 300_000
    job = await api.create(size)

    client = await storage._client()

    async def uploads_in_progress() -> int:
        listed = await client.list_multipart_uploads(Bucket=storage.bucket)
        return len(listed.get("Uploads", []))

    async def dies_after_one_part() -> AsyncIterator[bytes]:
        for _ in range(MIN_PART_SIZE // 65536 + 1):
            yield b"\x00" * 65536
        with anyio.fail_after(10):
            # The server has sent the first part to S3.
            while not await uploads_in_progress():  # noqa: ASYNC110 - state in S3
                await anyio.sleep(0.05)
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await api.client.put(job["uploadUrl"], content=dies_after_one_part())
    with anyio.fail_after(10):
        while api.slots.in_use() or await api.upload_running(job):  # noqa: ASYNC110
            await anyio.sleep(0.05)
    assert await api.upload_state(job) == (StepStatus.FAILED, JobStatus.PENDING)
    assert await uploads_in_progress() == 0  # aborted

    again = await api.client.put(job["uploadUrl"], content=b"\x00" * size)
    assert again.status_code == 202, again.text
    assert await api.upload_state(job) == (StepStatus.SUCCEEDED, JobStatus.PENDING)
