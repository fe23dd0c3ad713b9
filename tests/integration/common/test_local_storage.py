"""The local filesystem backend and the manifest store on a real disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from talkavocado_common.manifest_store import ManifestInvalid, ManifestStore, utcnow
from talkavocado_common.models import JobStatus, LogEntry, Manifest
from talkavocado_common.storage import (
    InvalidKey,
    JobKeys,
    LocalStorage,
    NotFound,
    PreconditionFailed,
    open_storage,
)

KEYS = JobKeys("test", "tenant-a", "job-1")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "root")


async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([i % 256]) * size


async def test_streaming_write_and_ranged_read(storage: LocalStorage) -> None:
    info = await storage.write_stream(KEYS.final_render, chunks(5, 300_000))
    assert info.size == 1_500_000
    whole = b"".join([c async for c in storage.stream(KEYS.final_render)])
    assert len(whole) == 1_500_000
    part = b"".join([c async for c in storage.stream(KEYS.final_render, 299_990, 300_010)])
    assert part == bytes([0]) * 10 + bytes([1]) * 10
    assert await storage.list(KEYS.prefix) == [KEYS.final_render]


async def test_a_failed_stream_leaves_no_object(storage: LocalStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.write_stream(KEYS.input("a.mp4"), broken())
    assert not await storage.exists(KEYS.input("a.mp4"))
    assert await storage.list(KEYS.prefix) == []


async def test_missing_objects_raise_not_found(storage: LocalStorage) -> None:
    with pytest.raises(NotFound):
        await storage.read_bytes(KEYS.manifest)
    with pytest.raises(NotFound):
        [c async for c in storage.stream(KEYS.manifest)]
    with pytest.raises(NotFound):
        await storage.info(KEYS.manifest)


async def test_conditional_writes(storage: LocalStorage) -> None:
    etag = await storage.write_bytes(KEYS.manifest, b"one", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(KEYS.manifest, b"again", if_none_match=True)
    new_etag = await storage.write_bytes(KEYS.manifest, b"two", if_match=etag)
    assert new_etag != etag
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(KEYS.manifest, b"stale", if_match=etag)
    assert (await storage.read_bytes(KEYS.manifest)) == (b"two", new_etag)


async def test_keys_cannot_leave_the_root(storage: LocalStorage, tmp_path: Path) -> None:
    for key in ["../outside", "/etc/passwd", "a/../../b"]:
        with pytest.raises(InvalidKey):
            await storage.write_bytes(key, b"x")
    assert not (tmp_path / "outside").exists()


def new_manifest() -> Manifest:
    now = utcnow()
    return Manifest(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        status=JobStatus.PENDING,
        created_at=now,
        updated_at=now,
    )


async def test_concurrent_manifest_updates_all_land(storage: LocalStorage) -> None:
    store = ManifestStore(storage, max_attempts=200)
    await store.create(KEYS, new_manifest())

    async def add_log(i: int) -> None:
        entry = LogEntry(time=utcnow(), level="info", step=None, message=f"writer {i}")
        await store.update(KEYS, lambda m: m.model_copy(update={"logs": [*m.logs, entry]}))

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(add_log, i)
    manifest = await store.get(KEYS)
    assert sorted(e.message for e in manifest.logs) == sorted(f"writer {i}" for i in range(30))


async def test_manifest_is_validated_on_read_and_write(storage: LocalStorage) -> None:
    store = ManifestStore(storage)
    await store.create(KEYS, new_manifest())
    with pytest.raises(ValueError, match="status"):
        await store.update(KEYS, lambda m: m.model_copy(update={"status": "exploded"}))
    assert (await store.get(KEYS)).status is JobStatus.PENDING
    await storage.write_bytes(KEYS.manifest, b'{"jobId": "job-1"}')
    with pytest.raises(ManifestInvalid):
        await store.get(KEYS)


async def test_a_manifest_for_another_job_is_refused(storage: LocalStorage) -> None:
    store = ManifestStore(storage)
    other = JobKeys("test", "tenant-b", "job-1")
    with pytest.raises(ManifestInvalid, match="another job"):
        await store.create(other, new_manifest())


def test_open_storage_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_storage(tmp_path / "x"), LocalStorage)
    assert isinstance(open_storage(f"file://{tmp_path}/y"), LocalStorage)
    with pytest.raises(ValueError, match="s3"):
        open_storage("s3://bucket/prefix")
