"""Download a job's artifacts: streamed by the API (whole or one byte range) or by a link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.storage import InvalidKey, NotFound, ObjectInfo, Storage

from ..ranges import ByteRange, Unsatisfiable, content_type_for, parse_range
from ..schemas import ArtifactLink
from ..settings import ApiSettings
from ..signed_links import LinkSigner
from .common import JobStore, RequestContext, utcnow
from .errors import ArtifactNotFound, InvalidInput, JobNotFound, RangeNotSatisfiable


@dataclass(frozen=True)
class Download:
    """An artifact ready to stream: the body and what describes it."""

    key: str
    size: int
    etag: str
    content_type: str
    byte_range: ByteRange | None  # None: the whole artifact
    body: AsyncIterator[bytes]


class ArtifactDownloads:
    def __init__(self, settings: ApiSettings, *, jobs: JobStore, storage: Storage) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage

    @property
    def manifests(self) -> ManifestStore:
        return self.jobs.manifests

    async def open(
        self,
        ctx: RequestContext,
        job_id: str,
        path: str,
        *,
        range_header: str | None,
        if_range: str | None,
    ) -> Download:
        """The artifact, or the one byte range `range_header` asks for (RFC 9110): whole when
        `if_range` names another version than the stored one."""
        key, info = await self._find(ctx, job_id, path)
        if if_range is not None and if_range.strip('"') != info.etag:
            range_header = None  # changed since the client's copy: send it whole
        try:
            byte_range = parse_range(range_header, info.size)
        except Unsatisfiable:
            raise RangeNotSatisfiable(info.size) from None
        start, end = (0, None) if byte_range is None else (byte_range.start, byte_range.end + 1)
        return Download(
            key=key,
            size=info.size,
            etag=info.etag,
            content_type=content_type_for(key),
            byte_range=byte_range,
            body=self.storage.stream(key, start, end),
        )

    async def link(
        self,
        ctx: RequestContext,
        job_id: str,
        path: str,
        *,
        api_url: str,
        signer: LinkSigner | None = None,
    ) -> ArtifactLink:
        """A direct, time-limited download URL: presigned where the storage has them (S3),
        else the API's own artifact URL `api_url` signed with `signer` (signed_links.py); with
        neither, `api_url` as it is (it needs the API key)."""
        key, info = await self._find(ctx, job_id, path)
        seconds = self.settings.storage.presign_seconds
        expires = utcnow() + timedelta(seconds=seconds)
        url = await self.storage.presigned_url(
            key, expires_seconds=seconds, download_name=key.rsplit("/", 1)[-1]
        )
        if url is not None:
            return ArtifactLink(url=url, direct=True, expires_at=expires, bytes=info.size)
        if signer is None:
            return ArtifactLink(url=api_url, direct=False, expires_at=None, bytes=info.size)
        deadline = int(expires.timestamp())
        signature = signer.signature(ctx.tenant_id, job_id, path, deadline)
        signed = f"{api_url}&expires={deadline}&signature={signature}"
        return ArtifactLink(url=signed, direct=True, expires_at=expires, bytes=info.size)

    async def _find(self, ctx: RequestContext, job_id: str, path: str) -> tuple[str, ObjectInfo]:
        """The storage key and info of an artifact of the caller's job."""
        keys = self.jobs.keys(ctx, job_id)
        if path.startswith(keys.prefix):  # a full storage key, as GET /jobs/{id} lists them
            path = path[len(keys.prefix) :]
        try:
            key = keys.key(path)
        except InvalidKey:
            raise InvalidInput(None, f"invalid artifact path {path!r}") from None
        if not await self.manifests.exists(keys):
            raise JobNotFound(job_id)
        try:
            return key, await self.storage.info(key)
        except NotFound:
            raise ArtifactNotFound(path) from None
