"""Upload a job's recording: streamed to storage within the declared size, probed, and the job
submitted to the pipeline. The upload claim (upload_claim.py) keeps concurrent uploads apart and
is given back whenever the upload does not go through, so the client can simply try again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta

from talkavocado_common.events import JobSubmitted
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.media import MediaInfo
from talkavocado_common.models import InputInfo, Manifest
from talkavocado_common.storage import JobKeys, ObjectInfo, Storage

from .. import media_check
from ..metrics import ApiMetrics
from ..schemas import UploadAccepted, UploadedInput
from ..settings import ApiSettings
from .common import JobCommands, JobStore, RequestContext, log
from .errors import InputRejected, InvalidInput, Unavailable, UploadTooLarge
from .probe import MediaProbe
from .upload_claim import UploadClaim, check_uploadable


class _OverLimit(Exception):
    pass


async def _counted(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass chunks through, refusing to go past `limit` bytes (checked before writing)."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _OverLimit(limit)
        if chunk:
            yield chunk


def _accepted(
    keys: JobKeys, manifest: Manifest, stored: ObjectInfo, info: MediaInfo
) -> UploadAccepted:
    assert manifest.input is not None
    return UploadAccepted(
        job_id=keys.job_id,
        tenant_id=keys.tenant_id,
        status=manifest.status,
        manifest_key=keys.manifest,
        input=UploadedInput(
            key=manifest.input.key,
            original_filename=manifest.input.original_filename,
            bytes=stored.size,
            mime_type=manifest.input.mime_type,
            duration_sec=info.duration,
            has_video=info.video is not None,
            has_audio=info.audio is not None,
        ),
    )


class UploadInput:
    def __init__(
        self,
        settings: ApiSettings,
        *,
        jobs: JobStore,
        storage: Storage,
        commands: JobCommands,
        probe: MediaProbe,
        metrics: ApiMetrics,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage
        self.commands = commands
        self.probe = probe
        self.metrics = metrics

    @property
    def manifests(self) -> ManifestStore:
        return self.jobs.manifests

    async def __call__(
        self,
        ctx: RequestContext,
        job_id: str,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None,
    ) -> UploadAccepted:
        """`content_length`: the size the client announced for the body, if it did."""
        keys = self.jobs.keys(ctx, job_id)
        declared, limit = self._admit(await self.jobs.load(keys), content_length)
        ttl = timedelta(seconds=self.settings.upload_claim_ttl_seconds)
        claim = await UploadClaim.take(self.manifests, keys, ttl)
        stored = await self._store(claim, declared, chunks, limit)
        info = await self._inspect(claim, stored)
        manifest = await self._submit(ctx, claim, stored, info)
        self.metrics.uploads.labels("accepted").inc()
        self.metrics.upload_bytes.inc(stored.size)
        return _accepted(keys, manifest, stored, info)

    def _admit(self, manifest: Manifest, content_length: int | None) -> tuple[InputInfo, int]:
        """The declared input and the most bytes to accept; refuses before anything is read."""
        check_uploadable(manifest)
        assert manifest.input is not None
        declared = manifest.input.bytes
        limit = min(declared, self.settings.max_upload_bytes)
        if content_length is not None:
            if content_length > limit:
                raise UploadTooLarge(limit, declared)
            if content_length < declared:
                raise InvalidInput(
                    None,
                    f"Content-Length {content_length} does not match the declared "
                    f"input.bytes {declared}",
                )
        if not self.probe.available():
            raise Unavailable("the media probe (ffprobe) is not available on this server")
        return manifest.input, limit

    async def _store(
        self, claim: UploadClaim, declared: InputInfo, chunks: AsyncIterable[bytes], limit: int
    ) -> ObjectInfo:
        began = time.perf_counter()
        try:
            stored = await self.storage.write_stream(declared.key, _counted(chunks, limit))
        except _OverLimit:
            self.metrics.uploads.labels("too_large").inc()
            await claim.release(f"upload refused: more than {limit} bytes")
            raise UploadTooLarge(limit, declared.bytes) from None
        except BaseException as exc:
            self.metrics.uploads.labels("interrupted").inc()
            await claim.release(f"upload interrupted: {type(exc).__name__}")
            raise
        seconds = time.perf_counter() - began
        log.info(
            "input stored",
            extra={"bytes": stored.size, "seconds": round(seconds, 3), "key": declared.key},
        )
        if stored.size != declared.bytes:
            self.metrics.uploads.labels("incomplete").inc()
            await self.storage.delete(declared.key)
            await claim.release(f"upload incomplete: {stored.size} of {declared.bytes} bytes")
            raise InvalidInput(
                None,
                f"upload incomplete: received {stored.size} of the declared {declared.bytes} bytes",
            )
        return stored

    async def _inspect(self, claim: UploadClaim, stored: ObjectInfo) -> MediaInfo:
        try:
            return await self.probe.inspect(stored)
        except InputRejected as exc:
            self.metrics.uploads.labels("invalid").inc()
            await claim.reject(exc.message)
            raise
        except BaseException:
            await claim.release("upload check interrupted")
            raise

    async def _submit(
        self, ctx: RequestContext, claim: UploadClaim, stored: ObjectInfo, info: MediaInfo
    ) -> Manifest:
        summary = media_check.describe(info)
        manifest = await claim.complete(f"input uploaded: {stored.size} bytes, {summary}")
        assert manifest.input is not None
        keys = claim.keys
        submitted = JobSubmitted(
            job_id=keys.job_id,
            tenant_id=keys.tenant_id,
            env=keys.env,
            options=manifest.options,
            input=manifest.input,
            manifest_key=keys.manifest,
        )
        try:
            await self.commands.send(ctx, "job.submitted", submitted)
        except Unavailable:
            # Not submitted: give the claim back so the client can simply upload again.
            await claim.release("submission to the pipeline failed")
            self.metrics.uploads.labels("not_submitted").inc()
            raise
        return manifest
