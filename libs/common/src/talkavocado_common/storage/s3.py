"""S3 backend (aioboto3): `s3://bucket/prefix`, any S3-compatible endpoint (MinIO, moto).

Objects stream both ways: uploads larger than one part go up as a multipart upload (at most one
part in memory, gathered in place and handed to botocore without a copy), downloads read ranged
GETs chunk by chunk. A multipart upload that fails in any way (an error, a cancelled task, the
client gone) is aborted, shielded from the cancellation; one that cannot be (the process died)
is left to the bucket's AbortIncompleteMultipartUpload lifecycle rule.

Whole-document writes use S3's conditional PUT (If-Match / If-None-Match) so the manifest keeps
its compare-and-swap. botocore retries a PUT whose answer it did not get (a timeout, a reset
connection); when the first attempt had landed, the retry meets the object it wrote itself and
gets 412. So every conditional write carries a write id in its metadata, and a 412 (or 409) is
checked against the object now there: if it carries our write id, the write is ours and counts
as done.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from .base import CHUNK_SIZE, NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError
from .keys import validate_relative_path

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# S3's smallest part is 5 MiB (all but the last); 16 MiB keeps a 10 000-part upload above 150 GB.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
# User metadata of conditional writes (x-amz-meta-write-id): who wrote this version.
WRITE_ID = "write-id"
# How long an abort of a failed multipart upload may take (it runs shielded from cancellation).
ABORT_SECONDS = 30.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Options:
    """How to reach the store; credentials left None use boto's chain (env, IRSA, profile)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    part_size: int = DEFAULT_PART_SIZE
    addressing_style: str = "auto"
    # Where clients reach the store, if not where the services do (MinIO as `minio:9000`
    # inside compose, `localhost:9000` outside): presigned links are signed for this host.
    public_endpoint_url: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix/"); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"storage {url!r}: no bucket name (use s3://bucket/prefix)")
    prefix = prefix.strip("/")
    if prefix:
        validate_relative_path(prefix)
    return bucket, f"{prefix}/" if prefix else ""


def _etag(raw: str) -> str:
    return raw.strip('"')


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "")


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.options = options or S3Options()
        if self.options.part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 part size {self.options.part_size} is below S3's 5 MiB minimum")
        self._session = aioboto3.Session(
            aws_access_key_id=self.options.access_key_id,
            aws_secret_access_key=self.options.secret_access_key,
            region_name=self.options.region,
        )
        # One client per event loop: aiobotocore's connection pool belongs to the loop that
        # made it, and the CLI may run more than one loop in a process.
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Any, S3Client]] = {}
        self._public_clients: dict[asyncio.AbstractEventLoop, tuple[Any, S3Client]] = {}

    @classmethod
    def from_url(cls, url: str, options: S3Options | None = None) -> S3Storage:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, options)

    def __repr__(self) -> str:
        return f"S3Storage({self.location!r})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    async def _client(self, *, public: bool = False) -> S3Client:
        """This loop's client; `public`: the one that signs links for PUBLIC_ENDPOINT_URL."""
        clients = self._public_clients if public else self._clients
        loop = asyncio.get_running_loop()
        for other in [old for old in clients if old.is_closed()]:
            del clients[other]
        if loop not in clients:
            o = self.options
            config = AioConfig(
                s3={"addressing_style": o.addressing_style},
                # SigV4 for presigned links too (botocore would sign them with the deprecated
                # SigV2, which S3 refuses in newer regions).
                signature_version="s3v4",
                connect_timeout=o.connect_timeout,
                read_timeout=o.read_timeout,
                retries={"max_attempts": o.max_attempts, "mode": "standard"},
            )
            endpoint = o.public_endpoint_url if public else o.endpoint_url
            context = self._session.client("s3", endpoint_url=endpoint, config=config)
            client = await context.__aenter__()
            clients[loop] = (context, client)
        return clients[loop][1]

    async def aclose(self) -> None:
        """Close this loop's clients (others are dropped with their loops)."""
        loop = asyncio.get_running_loop()
        for clients in (self._clients, self._public_clients):
            entry = clients.pop(loop, None)
            if entry is not None:
                await entry[0].__aexit__(None, None, None)

    def _key(self, key: str) -> str:
        validate_relative_path(key)
        return self.prefix + key

    def _folder(self, prefix: str) -> str:
        """The S3 prefix of a 'folder' key prefix ('' → the configured prefix itself)."""
        stem = prefix.strip("/")
        return f"{self._key(stem)}/" if stem else self.prefix

    def _failure(self, exc: ClientError | BotoCoreError, key: str) -> StorageError:
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _MISSING:
                return NotFound(key)
            if code in _PRECONDITION:
                return PreconditionFailed(key)
            if code == "NoSuchBucket":
                return StorageError(f"bucket {self.bucket!r} does not exist")
        return StorageError(f"s3://{self.bucket}/{self.prefix}{key}: {exc}")

    async def read_bytes(self, key: str) -> tuple[bytes, str]:
        client = await self._client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                data = await body.read()
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, key) from None
        return data, _etag(response["ETag"])

    async def write_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        client = await self._client()
        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions["IfMatch"] = f'"{if_match}"'
        if if_none_match:
            conditions["IfNoneMatch"] = "*"
        write_id = uuid.uuid4().hex if conditions else None
        if write_id is not None:
            conditions["Metadata"] = {WRITE_ID: write_id}
        try:
            response = await client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, **conditions
            )
        except (ClientError, BotoCoreError) as exc:
            failure = self._failure(exc, key)
            # If-Match on a missing object is a lost race too, not a missing document.
            if isinstance(failure, NotFound) and if_match is not None:
                failure = PreconditionFailed(key)
            if isinstance(failure, PreconditionFailed) and write_id is not None:
                etag = await self._written_by(key, write_id)
                if etag is not None:
                    log.info("conditional write to %s landed before its retry's 412", key)
                    return etag
            raise failure from None
        return _etag(response["ETag"])

    async def _written_by(self, key: str, write_id: str) -> str | None:
        """The ETag of the object at `key` if our conditional write `write_id` put it there
        (a retry of it then failed against it), else None."""
        client = await self._client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            failure = self._failure(exc, key)
            if isinstance(failure, NotFound):
                return None
            raise failure from None
        if head.get("Metadata", {}).get(WRITE_ID) != write_id:
            return None
        return _etag(head["ETag"])

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            await self.info(key)  # still NotFound for a missing object
            return
        client = await self._client()
        byte_range = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=byte_range
            )
        except ClientError as exc:
            if _code(exc) in ("InvalidRange", "416"):
                return  # start at or past the end: nothing to yield, as for a file
            raise self._failure(exc, key) from None
        except BotoCoreError as exc:
            raise self._failure(exc, key) from None
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(CHUNK_SIZE):
                if chunk:
                    yield chunk
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StorageError(
                f"s3://{self.bucket}/{self.prefix}{key}: read failed: {exc}"
            ) from exc
        finally:
            body.close()

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        client = await self._client()
        upload = _Multipart(client, self.bucket, self._key(key))
        part_size = self.options.part_size
        # The part is gathered in a BytesIO and handed to botocore as a file: it is checksummed
        # and sent from there chunk by chunk, never copied whole (nor queued in the transport).
        part = io.BytesIO()
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                rest = memoryview(chunk)
                while len(rest) >= part_size - part.tell():
                    room = part_size - part.tell()
                    part.write(rest[:room])
                    rest = rest[room:]
                    await upload.send(part)
                    part = io.BytesIO()
                part.write(rest)
            if upload.upload_id is None:
                part.seek(0)
                response = await client.put_object(Bucket=self.bucket, Key=upload.key, Body=part)
                return ObjectInfo(key=key, size=size, etag=_etag(response["ETag"]))
            if part.tell():
                await upload.send(part)
            etag = await upload.complete()
        except BaseException as exc:
            await upload.abort()
            if isinstance(exc, ClientError | BotoCoreError):
                raise self._failure(exc, key) from None
            raise
        return ObjectInfo(key=key, size=size, etag=etag)

    async def info(self, key: str) -> ObjectInfo:
        client = await self._client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, key) from None
        return ObjectInfo(key=key, size=int(head["ContentLength"]), etag=_etag(head["ETag"]))

    async def exists(self, key: str) -> bool:
        try:
            await self.info(key)
        except NotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        client = await self._client()
        try:
            await client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            failure = self._failure(exc, key)
            if not isinstance(failure, NotFound):
                raise failure from None

    async def list(self, prefix: str) -> list[str]:
        client = await self._client()
        full = self._folder(prefix)
        keys: list[str] = []
        try:
            async for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if not name.rsplit("/", 1)[-1].startswith("."):
                        keys.append(name)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, prefix) from None
        return sorted(keys)

    async def list_children(self, prefix: str) -> builtins.list[str]:
        client = await self._client()
        full = self._folder(prefix)
        names: builtins.list[str] = []
        try:
            async for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/"
            ):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(full) :].rstrip("/")
                    if name and not name.startswith("."):
                        names.append(name)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure(exc, prefix) from None
        return sorted(names)

    async def download_to(self, key: str, path: Path) -> None:
        chunks = self.stream(key)
        first = await anext(chunks, b"")  # NotFound before the file is created
        async with await anyio.open_file(path, "wb") as handle:
            await handle.write(first)
            async for chunk in chunks:
                await handle.write(chunk)

    async def upload_from(self, path: Path, key: str) -> ObjectInfo:
        async def read() -> AsyncIterator[bytes]:
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(CHUNK_SIZE):
                    yield chunk

        return await self.write_stream(key, read())

    async def presigned_url(
        self, key: str, *, expires_seconds: int, download_name: str | None = None
    ) -> str | None:
        # Signing is local (no request): a client for the public host signs for that host.
        client = await self._client(public=self.options.public_endpoint_url is not None)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        url: str = await client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_seconds
        )
        return url


class _Multipart:
    """One multipart upload: started with its first part, completed, or aborted."""

    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def send(self, part: io.BytesIO) -> None:
        if self.upload_id is None:
            created = await self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        part.seek(0)
        response = await self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=part
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> str:
        assert self.upload_id is not None
        done = await self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},  # type: ignore[typeddict-item]
        )
        return _etag(done["ETag"])

    async def abort(self) -> None:
        """Drop the parts sent so far. Shielded: a cancelled upload (the request's task torn
        down) must still abort; if it cannot, the bucket's lifecycle rule does it later."""
        if self.upload_id is None:
            return
        with anyio.move_on_after(ABORT_SECONDS, shield=True) as scope:
            try:
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
                return
            except (ClientError, BotoCoreError, OSError) as exc:
                log.warning("could not abort the multipart upload of %s: %s", self.key, exc)
                return
        if scope.cancelled_caught:
            log.warning("aborting the multipart upload of %s timed out", self.key)
