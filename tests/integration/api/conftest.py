"""The real app under uvicorn on 127.0.0.1 (random port), real ffprobe, storage on disk and on a
real S3 endpoint (moto's server; every test runs on both), the in-memory publisher and status
feed (the Kafka ones are tested with the broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_api.ports import storage_check
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import JobKeys, Storage, open_storage
from tests.mediagen import DEMO_SCRIPT, Recording, make_recording
from tests.support.http import serve_on_loopback
from tests.support.s3 import S3Server, s3_server  # noqa: F401

TENANT = "demo-tenant"
KEY = "qquveprNAzBa8666QKRe_UXC8S17HCIhBgf8H3iluPY"  # avocado keys new
ENV = "it"


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(DEMO_SCRIPT, tmp_path_factory.mktemp("media") / "talk.mp4")


@dataclass
class Server:
    url: str
    client: httpx.AsyncClient
    storage: Storage
    publisher: InMemoryPublisher
    feed: InMemoryStatusFeed
    broker: dict[str, bool] = field(default_factory=lambda: {"up": True})

    def keys(self, job_id: str) -> JobKeys:
        return JobKeys(ENV, TENANT, job_id)

    @property
    def manifests(self) -> ManifestStore:
        return ManifestStore(self.storage)


@pytest.fixture(params=["local", "s3"])
async def server(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811
) -> AsyncIterator[Server]:
    if request.param == "local":
        storage_settings = StorageSettings(
            STORAGE_URL=str(tmp_path / "storage"), TALKAVOCADO_ENV=ENV
        )
    else:
        storage_settings = StorageSettings.model_validate(
            {
                # Presigned links name the gate that checks signatures and expiry.
                **s3_server.env(s3_server.create_bucket(), presign_checked=True),
                "TALKAVOCADO_ENV": ENV,
            }
        )
    storage = open_storage(storage_settings.storage_url, storage_settings)
    publisher, feed = InMemoryPublisher(), InMemoryStatusFeed()
    broker = {"up": True}

    async def broker_check() -> None:
        if not broker["up"]:
            raise ConnectionError("127.0.0.1:9092: connection refused")

    settings = ApiSettings(
        keys=f"{TENANT}:{KEY}",
        storage=storage_settings,
        sse_keepalive_seconds=0.5,
        MAX_UPLOAD_BYTES=50_000_000,
    )
    app = create_app(
        settings,
        storage=storage,
        publisher=publisher,
        status_feed=feed,
        readiness_checks={"broker": broker_check, "storage": storage_check(storage)},
    )
    async with (
        serve_on_loopback(app) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client,
    ):
        yield Server(url, client, storage, publisher, feed, broker)
    await storage.aclose()
