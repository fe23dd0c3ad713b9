"""Upload a job's recording: streamed to storage within the declared size, probed, and the job
submitted to the pipeline. The upload claim (upload_claim.py) keeps concurrent uploads apart and
is given back whenever the upload does not go through, so the client can simply try again.

Each upload first takes one of the process's upload slots (admission.py), before anything is
read, and gives it back however it ends; a body that stalls for `upload_idle_timeout_seconds`
ends it too, so a silent client holds neither a slot nor the claim for long."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta

import anyio

from talkavocado_common.active_jobs import ActiveJobs, submission
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.media import MediaInfo
from talkavocado_common.models import InputInfo, Manifest
from talkavocado_common.storage import JobKeys, ObjectInfo, Storage

from .. import media_check
from ..admission import UploadSlots
from ..metrics import ApiMetrics
from ..schemas import UploadAccepted, UploadedInput
from ..settings import ApiSettings
from .common import JobCommands, JobStore, RequestContext, log
from .errors import InputRejected, InvalidInput, TooManyRequests, Unavailable, UploadTooLarge
from .probe import MediaProbe
from .upload_claim import UploadClaim, check_uploadable


class _OverLimit(Exception):
    pass


class _Stalled(Exception):
    pass


async def _counted(
    chunks: AsyncIterable[bytes], limit: int, idle_seconds: float
) -> AsyncIterator[bytes]:
    """Pass chunks through, refusing to go past `limit` bytes (checked before writing) or to
    wait longer than `idle_seconds` for the next chunk."""
    total = 0
    pending = aiter(chunks)
    while True:
        chunk: bytes | None = None
        with anyio.move_on_after(idle_seconds) as waiting:
            chunk = await anext(pending, None)
        if waiting.cancelled_caught:
            raise _Stalled(idle_seconds)
        if chunk is None:
            return
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
        slots: UploadSlots | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage
        self.commands = commands
        self.probe = probe
        self.metrics = metrics
        # Uploads in progress in this process: each holds an S3 part in memory (admission.py).
        self.slots = slots or UploadSlots(
            settings.max_concurrent_uploads,
            settings.max_concurrent_uploads_per_tenant,
            retry_after=settings.upload_retry_after_seconds,
        )

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
        with self._slot(ctx.tenant_id):  # before anything is read; given back however it ends
            return await self._upload(ctx, keys, chunks, content_length)

    @contextmanager
    def _slot(self, tenant_id: str) -> Iterator[None]:
        refusal = self.slots.try_acquire(tenant_id)
        if refusal is not None:
            self.metrics.uploads.labels("refused_busy").inc()
            raise TooManyRequests(refusal.reason, refusal.retry_after)
        with self.slots.holding(tenant_id):
            yield

    async def _upload(
        self,
        ctx: RequestContext,
        keys: JobKeys,
        chunks: AsyncIterable[bytes],
        content_length: int | None,
    ) -> UploadAccepted:
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
            idle = self.settings.upload_idle_timeout_seconds
            stored = await self.storage.write_stream(declared.key, _counted(chunks, limit, idle))
        except _OverLimit:
            self.metrics.uploads.labels("too_large").inc()
            await claim.release(f"upload refused: more than {limit} bytes")
            raise UploadTooLarge(limit, declared.bytes) from None
        except _Stalled:
            self.metrics.uploads.labels("stalled").inc()
            await claim.release(f"upload stalled: nothing received for {idle:g} s")
            raise InvalidInput(
                None, f"upload stalled: nothing received for {idle:g} s; upload again"
            ) from None
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
        try:
            # Indexed before the upload is recorded: a crash from here on leaves the job to the
            # orchestrator's reconciler, which submits it (talkavocado_common.active_jobs).
            await ActiveJobs(self.storage, claim.keys.env).add(claim.keys)
            manifest = await claim.complete(f"input uploaded: {stored.size} bytes, {summary}")
        except BaseException as exc:
            # Not recorded (storage down, a conflict): never leave the claim to go stale.
            await claim.release(f"recording the upload failed: {type(exc).__name__}")
            raise
        submitted = submission(claim.keys, manifest)
        try:
            await self.commands.send(ctx, "job.submitted", submitted)
        except Unavailable:
            # Not submitted: give the claim back so the client can simply upload again.
            await claim.release("submission to the pipeline failed")
            self.metrics.uploads.labels("not_submitted").inc()
            raise
        return manifest
