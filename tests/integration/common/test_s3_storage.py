"""What only the S3 backend does: multipart uploads, presigned links, S3's own failures. Against a
real S3 HTTP endpoint (moto's server on loopback); the shared behaviour is in test_storage.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import JobKeys, open_storage
from talkavocado_common.storage.base import StorageError
from talkavocado_common.storage.s3 import MIN_PART_SIZE, S3Options, S3Storage
from tests.support.s3 import S3Server, s3_server  # noqa: F401

KEYS = JobKeys("test", "tenant-a", "job-1")
MIB = 1024 * 1024


@pytest.fixture
async def storage(s3_server: S3Server) -> AsyncIterator[S3Storage]:  # noqa: F811
    settings = s3_server.settings(s3_server.create_bucket(), prefix="prod")
    backend = open_storage(settings.storage_url, settings)
    assert isinstance(backend, S3Storage)
    small_parts = S3Storage(
        backend.bucket,
        backend.prefix,
        S3Options(**{**vars(backend.options), "part_size": MIN_PART_SIZE}),
    )
    yield small_parts
    await small_parts.aclose()
    await backend.aclose()


async def pieces(total: int, size: int = 300_000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield bytes([(sent // size) % 251]) * n
        sent += n


async def test_a_large_stream_goes_up_as_a_multipart_upload(storage: S3Storage) -> None:
    total = 2 * MIN_PART_SIZE + 123_457
    info = await storage.write_stream(KEYS.final_render, pieces(total))
    assert info.size == total
    # S3 marks a multipart object's ETag with its part count.
    assert info.etag.endswith("-3"), info.etag
    assert (await storage.info(KEYS.final_render)).size == total
    expected = b"".join([c async for c in pieces(total)])
    whole = b"".join([c async for c in storage.stream(KEYS.final_render)])
    assert whole == expected
    tail = b"".join([c async for c in storage.stream(KEYS.final_render, total - 10)])
    assert tail == expected[-10:]


async def test_a_small_stream_is_one_put(storage: S3Storage) -> None:
    info = await storage.write_stream(KEYS.audio_mp3, pieces(1000))
    assert "-" not in info.etag
    assert info.size == 1000


async def test_a_failed_multipart_upload_is_aborted(storage: S3Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (MIN_PART_SIZE + 10)  # one part sent before the failure
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.write_stream(KEYS.input("talk.mp4"), broken())
    assert not await storage.exists(KEYS.input("talk.mp4"))
    client = await storage._client()
    uploads = await client.list_multipart_uploads(Bucket=storage.bucket)
    assert uploads.get("Uploads", []) == []


async def test_objects_live_under_the_configured_prefix(storage: S3Storage) -> None:
    await storage.write_bytes(KEYS.manifest, b"{}")
    client = await storage._client()
    listed = await client.list_objects_v2(Bucket=storage.bucket)
    assert [o["Key"] for o in listed["Contents"]] == [f"prod/{KEYS.manifest}"]


async def test_a_presigned_link_downloads_the_object_without_credentials(
    storage: S3Storage,
) -> None:
    await storage.write_bytes(
        KEYS.final_subtitles("srt"), b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"
    )
    url = await storage.presigned_url(
        KEYS.final_subtitles("srt"), expires_seconds=60, download_name="final.srt"
    )
    assert url is not None
    assert "Signature" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content.startswith(b"1\n00:00:00,000")
    assert 'filename="final.srt"' in response.headers["content-disposition"]


async def test_links_are_signed_for_the_public_endpoint(s3_server: S3Server) -> None:  # noqa: F811
    """Services reach the store at one address, clients at another (compose: minio:9000 inside,
    localhost:9000 outside): the link names the public host and its signature holds there."""
    internal = s3_server.endpoint_url.replace("127.0.0.1", "localhost")
    env = {**s3_server.env(s3_server.create_bucket()), "AWS_ENDPOINT_URL": internal}
    env["STORAGE_S3_PUBLIC_ENDPOINT_URL"] = s3_server.endpoint_url
    settings = StorageSettings.model_validate(env)
    storage = open_storage(settings.storage_url, settings)
    try:
        await storage.write_bytes(KEYS.final_render, b"video bytes")
        url = await storage.presigned_url(KEYS.final_render, expires_seconds=60)
    finally:
        await storage.aclose()
    assert url is not None
    assert url.startswith(s3_server.endpoint_url + "/")
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"video bytes"


async def test_a_missing_bucket_is_a_clear_error(s3_server: S3Server) -> None:  # noqa: F811
    settings = s3_server.settings("no-such-bucket")
    backend = open_storage(settings.storage_url, settings)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        await backend.write_bytes(KEYS.manifest, b"{}")
    await backend.aclose()


async def test_an_unreachable_endpoint_is_a_storage_error() -> None:
    settings = StorageSettings.model_validate(
        {
            "STORAGE_URL": "s3://bucket/data",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: connection refused
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
            "AWS_REGION": "us-east-1",
        }
    )
    backend = open_storage(settings.storage_url, settings)
    assert isinstance(backend, S3Storage)
    backend = S3Storage(
        backend.bucket, backend.prefix, S3Options(**{**vars(backend.options), "max_attempts": 1})
    )
    with pytest.raises(StorageError, match="s3://bucket/data/"):
        await backend.read_bytes(KEYS.manifest)
    await backend.aclose()


def test_settings_map_to_s3_options() -> None:
    settings = StorageSettings.model_validate(
        {
            "STORAGE_URL": "s3://media/prod",
            "AWS_ENDPOINT_URL": "http://minio:9000",
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
            "STORAGE_S3_PART_BYTES": str(8 * MIB),
            "STORAGE_S3_ADDRESSING_STYLE": "path",
        }
    )
    options = settings.s3_options()
    assert options == S3Options(
        endpoint_url="http://minio:9000",
        region="eu-west-1",
        access_key_id="key",
        secret_access_key="s3cr3t-value",
        part_size=8 * MIB,
        addressing_style="path",
    )
    assert "s3cr3t-value" not in repr(settings) + repr(options)
    with pytest.raises(ValueError, match=r"STORAGE_S3_PART_BYTES|greater than or equal"):
        StorageSettings.model_validate({"STORAGE_S3_PART_BYTES": "1024"})
