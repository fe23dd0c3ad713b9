"""Test support: the API over LocalStorage on tmp_path, the in-memory publisher and feed, and a fake prober
(no ffprobe in unit tests: the file's first bytes say what it is)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_api.ports import ReadinessCheck, storage_check
from talkavocado_api.usecases import UseCases
from talkavocado_api.usecases.common import RequestContext
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.media import MediaInfo, ProbeError, StreamInfo
from talkavocado_common.models import JobStatus, Manifest
from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import JobKeys, LocalStorage

# Keys of 256 bits (`avocado keys new`): the API refuses weaker ones.
KEY_A = "8LVmzxvZi4otej-FWmLaT0HrBzgwfsK11-irodgTx9c"
KEY_B = "sCdhofnhzI2WV9iOOO4u5avefMuJypt6q2RPMSlSrgE"
TENANT_A = "tenant-a"
TENANT_B = "tenant-b"
ENV = "test"

# The caller of the use cases when a test calls them directly (tenant A).
CTX = RequestContext(tenant_id=TENANT_A, correlation_id="corr-direct")

# What the fake prober recognises at the start of a file.
AV = b"FAKEMEDIA:av\n"
VIDEO_ONLY = b"FAKEMEDIA:v\n"


def media(payload_size: int = 1000, head: bytes = AV) -> bytes:
    return head + b"\x00" * max(0, payload_size - len(head))


async def fake_probe(path: Path) -> MediaInfo:
    head = (await anyio.Path(path).read_bytes())[:32]
    size = (await anyio.Path(path).stat()).st_size
    video = StreamInfo(index=0, codec_type="video", codec_name="h264", width=320, height=240)
    audio = StreamInfo(index=1, codec_type="audio", codec_name="aac", sample_rate=48000)
    if head.startswith(AV):
        return MediaInfo("mov,mp4", 12.5, size, (video, audio))
    if head.startswith(VIDEO_ONLY):
        return MediaInfo("mov,mp4", 12.5, size, (video,))
    raise ProbeError("Invalid data found when processing input")


def make_settings(**overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "keys": f"{TENANT_A}:{KEY_A},{TENANT_B}:{KEY_B}",
        "storage": StorageSettings(STORAGE_URL="unused", TALKAVOCADO_ENV=ENV),
        "sse_keepalive_seconds": 5.0,
    }
    values.update(overrides)
    return ApiSettings(**values)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient  # authenticated as tenant A
    storage: LocalStorage
    publisher: InMemoryPublisher
    feed: InMemoryStatusFeed
    settings: ApiSettings

    @property
    def manifests(self) -> ManifestStore:
        return ManifestStore(self.storage)

    @property
    def use_cases(self) -> UseCases:
        """The app's use cases, to call them without HTTP (as CTX, tenant A)."""
        use_cases: UseCases = self.app.state.use_cases
        return use_cases

    def keys(self, job_id: str, tenant: str = TENANT_A) -> JobKeys:
        return JobKeys(ENV, tenant, job_id)

    def as_tenant_b(self) -> httpx.AsyncClient:
        return client_for(self.app, KEY_B)

    def anonymous(self) -> httpx.AsyncClient:
        return client_for(self.app, None)

    async def create_job(
        self,
        *,
        size: int = 1000,
        filename: str = "talk.mp4",
        client: httpx.AsyncClient | None = None,
        tenant: str = TENANT_A,
        **body: Any,
    ) -> dict[str, Any]:
        payload = {
            "tenantId": tenant,
            "input": {"originalFilename": filename, "bytes": size, "mimeType": "video/mp4"},
            **body,
        }
        response = await (client or self.client).post("/jobs", json=payload)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def upload(
        self, job: dict[str, Any], content: bytes, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        return await (client or self.client).put(job["uploadUrl"], content=content)

    async def submitted_job(self, size: int = 1000) -> dict[str, Any]:
        job = await self.create_job(size=size)
        response = await self.upload(job, media(size))
        assert response.status_code == 202, response.text
        return job

    async def set_status(self, job_id: str, status: JobStatus, **update: Any) -> None:
        """Change the job's manifest as the orchestrator would."""

        def change(m: Manifest) -> Manifest:
            return m.model_copy(update={"status": status, **update})

        await self.manifests.update(self.keys(job_id), change)


def client_for(app: FastAPI, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test", headers=headers
    )


def build_api(
    tmp_path: Path,
    settings: ApiSettings | None = None,
    readiness_checks: dict[str, ReadinessCheck] | None = None,
    storage: LocalStorage | None = None,
) -> Api:
    storage = storage or LocalStorage(tmp_path / "storage")
    settings = settings or make_settings()
    publisher, feed = InMemoryPublisher(), InMemoryStatusFeed()
    app = create_app(
        settings,
        storage=storage,
        publisher=publisher,
        status_feed=feed,
        readiness_checks=readiness_checks or {"storage": storage_check(storage)},
        prober=fake_probe,
    )
    return Api(app, client_for(app, KEY_A), storage, publisher, feed, settings)
