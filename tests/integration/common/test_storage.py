"""Both storage backends against the same tests: a real disk, and a real S3 HTTP endpoint
(moto's server on loopback); the manifest store's compare-and-swap on each."""

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
    Storage,
    open_storage,
)
from talkavocado_common.storage.s3 import S3Storage
from tests.support.s3 import S3Server, s3_server  # noqa: F401

KEYS = JobKeys("test", "tenant-a", "job-1")


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    s3_server: S3Server,  # noqa: F811
) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
        return
    settings = s3_server.settings(s3_server.create_bucket())
    backend = open_storage(settings.storage_url, settings)
    assert isinstance(backend, S3Storage)
    # A prefix inside the bucket, as deployments use: nothing may land outside it.
    backend = S3Storage(backend.bucket, "deploy/data/", backend.options)
    yield backend
    await backend.aclose()


async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([i % 256]) * size


async def test_streaming_write_and_ranged_read(storage: Storage) -> None:
    info = await storage.write_stream(KEYS.final_render, chunks(5, 300_000))
    assert info.size == 1_500_000
    whole = b"".join([c async for c in storage.stream(KEYS.final_render)])
    assert len(whole) == 1_500_000
    part = b"".join([c async for c in storage.stream(KEYS.final_render, 299_990, 300_010)])
    assert part == bytes([0]) * 10 + bytes([1]) * 10
    assert await storage.list(KEYS.prefix) == [KEYS.final_render]


async def test_a_failed_stream_leaves_no_object(storage: Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.write_stream(KEYS.input("a.mp4"), broken())
    assert not await storage.exists(KEYS.input("a.mp4"))
    assert await storage.list(KEYS.prefix) == []


async def test_missing_objects_raise_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        await storage.read_bytes(KEYS.manifest)
    with pytest.raises(NotFound):
        [c async for c in storage.stream(KEYS.manifest)]
    with pytest.raises(NotFound):
        await storage.info(KEYS.manifest)


async def test_conditional_writes(storage: Storage) -> None:
    etag = await storage.write_bytes(KEYS.manifest, b"one", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(KEYS.manifest, b"again", if_none_match=True)
    new_etag = await storage.write_bytes(KEYS.manifest, b"two", if_match=etag)
    assert new_etag != etag
    with pytest.raises(PreconditionFailed):
        await storage.write_bytes(KEYS.manifest, b"stale", if_match=etag)
    assert (await storage.read_bytes(KEYS.manifest)) == (b"two", new_etag)


async def test_keys_cannot_leave_the_root(storage: Storage, tmp_path: Path) -> None:
    for key in ["../outside", "/etc/passwd", "a/../../b"]:
        with pytest.raises(InvalidKey):
            await storage.write_bytes(key, b"x")
        with pytest.raises(InvalidKey):
            await storage.write_stream(key, chunks(1, 10))
    assert not (tmp_path / "outside").exists()
    assert await storage.list("") == []


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


async def test_concurrent_manifest_updates_all_land(storage: Storage) -> None:
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


async def test_manifest_is_validated_on_read_and_write(storage: Storage) -> None:
    store = ManifestStore(storage)
    await store.create(KEYS, new_manifest())
    with pytest.raises(ValueError, match="status"):
        await store.update(KEYS, lambda m: m.model_copy(update={"status": "exploded"}))
    assert (await store.get(KEYS)).status is JobStatus.PENDING
    await storage.write_bytes(KEYS.manifest, b'{"jobId": "job-1"}')
    with pytest.raises(ManifestInvalid):
        await store.get(KEYS)


async def test_a_manifest_for_another_job_is_refused(storage: Storage) -> None:
    store = ManifestStore(storage)
    other = JobKeys("test", "tenant-b", "job-1")
    with pytest.raises(ManifestInvalid, match="another job"):
        await store.create(other, new_manifest())


async def test_ranges_at_and_past_the_end(storage: Storage) -> None:
    await storage.write_bytes(KEYS.transcript_json, b"0123456789")
    assert b"".join([c async for c in storage.stream(KEYS.transcript_json, 8)]) == b"89"
    assert [c async for c in storage.stream(KEYS.transcript_json, 10)] == []
    assert [c async for c in storage.stream(KEYS.transcript_json, 4, 4)] == []
    assert b"".join([c async for c in storage.stream(KEYS.transcript_json, 3, 50)]) == b"3456789"


async def test_files_in_and_out(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(bytes(range(256)) * 9000)
    info = await storage.upload_from(source, KEYS.input("talk.mp4"))
    assert info.size == source.stat().st_size
    assert (await storage.info(KEYS.input("talk.mp4"))).etag == info.etag
    target = tmp_path / "out.bin"
    await storage.download_to(KEYS.input("talk.mp4"), target)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(NotFound):
        await storage.download_to(KEYS.manifest, tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()
    await storage.delete(KEYS.input("talk.mp4"))
    await storage.delete(KEYS.input("talk.mp4"))  # absent: no error
    assert not await storage.exists(KEYS.input("talk.mp4"))


async def test_list_is_scoped_to_its_prefix(storage: Storage) -> None:
    other = JobKeys("test", "tenant-ab", "job-1")
    await storage.write_bytes(KEYS.manifest, b"{}")
    await storage.write_bytes(other.manifest, b"{}")
    assert await storage.list("test/tenant-a") == [KEYS.manifest]
    assert await storage.list("") == sorted([KEYS.manifest, other.manifest])


def test_open_storage_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_storage(tmp_path / "x"), LocalStorage)
    assert isinstance(open_storage(f"file://{tmp_path}/y"), LocalStorage)
    s3 = open_storage("s3://bucket/some/prefix/")
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    for bad in ("s3:///prefix", "s3://bucket/../x", "gs://bucket/x"):
        with pytest.raises(ValueError, match=r"storage|invalid path|bucket"):
            open_storage(bad)


async def test_list_children_names_the_folders_right_below(storage: Storage) -> None:
    for job in ("job-1", "job-2"):
        keys = JobKeys("test", "tenant-a", job)
        await storage.write_bytes(keys.manifest, b"{}")
        await storage.write_bytes(keys.final_render, b"x")
    await storage.write_bytes(KEYS.branding_asset("logo.png"), b"png")
    await storage.write_bytes("test/tenant-a/loose.txt", b"not a folder")
    assert await storage.list_children("test/tenant-a") == ["assets", "job-1", "job-2"]
    assert await storage.list_children("test/tenant-a/") == ["assets", "job-1", "job-2"]
    assert await storage.list_children("test") == ["tenant-a"]
    assert await storage.list_children("") == ["test"]
    assert await storage.list_children("test/nobody") == []
