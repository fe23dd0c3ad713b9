"""The job service: what every endpoint does, over storage, the manifest and the publisher.

Routes are thin: they authenticate, pick the tenant and call one method here. Every method takes
the caller's `RequestContext`, so a tenant id that is not the caller's never reaches storage.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from talkavocado_common.events import (
    CloudEvent,
    JobCancelRequested,
    JobRetryRequested,
    JobStatusChanged,
    JobSubmitted,
    Topics,
    new_event,
)
from talkavocado_common.events.models import JobRef, StepError
from talkavocado_common.ids import new_job_id
from talkavocado_common.manifest_store import ManifestInvalid, ManifestStore
from talkavocado_common.media import MediaInfo, ProbeError, probe
from talkavocado_common.media.sniff import looks_like_text
from talkavocado_common.models import (
    ErrorCode,
    ErrorInfo,
    InputInfo,
    JobOptions,
    JobStatus,
    LogEntry,
    Manifest,
    StepRecord,
    StepStatus,
)
from talkavocado_common.storage import (
    InvalidKey,
    JobKeys,
    NotFound,
    ObjectInfo,
    PreconditionFailed,
    Storage,
)
from talkavocado_common.storage.keys import NAME_RE, build_key

from . import media_check
from .errors import (
    ApiError,
    Conflict,
    IdempotencyConflict,
    InputInvalid,
    InvalidRequest,
    JobNotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    Unavailable,
)
from .errors import NotFound as NotFoundError
from .metrics import ApiMetrics
from .ports import EventPublisher, StatusFeed
from .ranges import ByteRange, Unsatisfiable, content_type_for, parse_range
from .schemas import (
    ArtifactLink,
    Artifacts,
    CreateJobRequest,
    JobList,
    JobSummary,
    JobView,
    UploadAccepted,
    UploadedInput,
)
from .settings import ApiSettings

log = logging.getLogger("talkavocado_api.service")

SOURCE = "talkavocado-api"
UPLOAD_STEP = "upload"
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
MAX_IDEMPOTENCY_KEY = 255
MAX_LIST_LIMIT = 100
_LIST_BATCH = 16

Prober = Callable[[Path], Awaitable[MediaInfo]]


@dataclass(frozen=True)
class RequestContext:
    """The authenticated caller and the request's tracing ids."""

    tenant_id: str
    correlation_id: str
    traceparent: str | None = None


@dataclass(frozen=True)
class Download:
    """An artifact ready to stream: the body and the headers that go with it."""

    key: str
    size: int
    etag: str
    content_type: str
    byte_range: ByteRange | None
    body: AsyncIterator[bytes]


class _UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_view(manifest: Manifest, keys: JobKeys) -> JobView:
    """GET /jobs/{id}: the manifest reduced to the original API's shape."""
    return JobView(
        job_id=manifest.job_id,
        tenant_id=manifest.tenant_id,
        status=manifest.status,
        artifacts=Artifacts(
            audio=manifest.audio.mp3 if manifest.audio else None,
            transcript=manifest.transcript.json_key if manifest.transcript else None,
            plan=manifest.plan.cut_plan,
            renders=[r.key for r in manifest.renders],
            subtitles=[s.key for s in manifest.subtitles],
        ),
        manifest_key=keys.manifest,
        updated_at=manifest.updated_at,
        created_at=manifest.created_at,
        error=manifest.error,
    )


def encode_cursor(job_id: str) -> str:
    return base64.urlsafe_b64encode(job_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        job_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("cursor: not a cursor returned by this API") from None
    if not NAME_RE.fullmatch(job_id):
        raise InvalidRequest("cursor: not a cursor returned by this API")
    return job_id


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not (0 < len(value) <= MAX_IDEMPOTENCY_KEY)
        or not value.isprintable()
        or not value.isascii()
    ):
        raise InvalidRequest(
            f"Idempotency-Key: 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters expected"
        )
    return value


async def _counted(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass chunks through, refusing to go past `limit` bytes (checked before writing)."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _UploadTooLarge(limit)
        if chunk:
            yield chunk


class JobService:
    def __init__(
        self,
        settings: ApiSettings,
        *,
        storage: Storage,
        publisher: EventPublisher,
        status_feed: StatusFeed,
        prober: Prober | None = None,
        ffprobe_available: Callable[[], bool] | None = None,
        metrics: ApiMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.env = settings.env
        self.storage = storage
        self.manifests = ManifestStore(storage)
        self.publisher = publisher
        self.status_feed = status_feed
        self.topics = Topics(settings.kafka.topic_prefix)
        self._probe = prober or probe
        if ffprobe_available is None:
            # A custom prober (tests) needs no ffprobe binary.
            ffprobe_available = _always if prober else _ffprobe_on_path
        self._ffprobe_available: Callable[[], bool] = ffprobe_available
        self.metrics = metrics or ApiMetrics()

    # --- helpers ----------------------------------------------------------------------------

    def job_keys(self, ctx: RequestContext, job_id: str) -> JobKeys:
        try:
            return JobKeys(self.env, ctx.tenant_id, job_id)
        except InvalidKey:
            raise JobNotFound(job_id) from None

    async def _load(self, keys: JobKeys) -> Manifest:
        try:
            return await self.manifests.get(keys)
        except NotFound:
            raise JobNotFound(keys.job_id) from None

    def _event(self, ctx: RequestContext, event_type: str, payload: JobRef) -> CloudEvent:
        return new_event(
            event_type,
            payload,
            source=SOURCE,
            subject=payload.job_id,
            tenant_id=payload.tenant_id,
            correlation_id=ctx.correlation_id,
            traceparent=ctx.traceparent,
        )

    async def _publish(self, ctx: RequestContext, event: CloudEvent) -> None:
        try:
            await self.publisher.publish(self.topics.commands, event)
        except Exception as exc:
            log.error("publishing %s failed: %s", event.type, exc)
            raise Unavailable(
                "the job could not be submitted to the pipeline right now; try again"
            ) from exc
        self.metrics.events_published.labels(event.type).inc()
        log.info("published %s", event.type, extra={"eventId": event.id})

    # --- POST /jobs -------------------------------------------------------------------------

    def _idempotency_record_key(self, tenant_id: str, idempotency_key: str) -> str:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        return build_key(self.env, tenant_id, "idempotency", f"{digest}.json")

    async def create_job(
        self, ctx: RequestContext, request: CreateJobRequest, idempotency_key: str | None
    ) -> tuple[Manifest, JobKeys]:
        if request.tenant_id != ctx.tenant_id:
            raise AssertionError("the route checks the body's tenant against the key's")
        if request.input.bytes > self.settings.max_upload_bytes:
            raise InvalidRequest(
                f"input.bytes: {request.input.bytes} exceeds the maximum upload size of "
                f"{self.settings.max_upload_bytes} bytes"
            )
        keys = JobKeys(self.env, ctx.tenant_id, new_job_id())
        if idempotency_key is not None:
            # Claim the key before creating anything: of two racing requests exactly one
            # conditional write wins; the other reads the winner's job and answers 409.
            record_key = self._idempotency_record_key(ctx.tenant_id, idempotency_key)
            record = {
                "jobId": keys.job_id,
                "manifestKey": keys.manifest,
                "createdAt": str(utcnow()),
            }
            try:
                await self.storage.write_bytes(
                    record_key, json.dumps(record).encode(), if_none_match=True
                )
            except PreconditionFailed:
                data, _ = await self.storage.read_bytes(record_key)
                first = json.loads(data)
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used; the first job is returned",
                    extra={"jobId": first["jobId"], "manifestKey": first["manifestKey"]},
                ) from None
        now = utcnow()
        manifest = Manifest(
            job_id=keys.job_id,
            tenant_id=ctx.tenant_id,
            env=self.env,
            status=JobStatus.PENDING,
            options=request.options or JobOptions(),
            input=InputInfo(
                key=keys.input(request.input.original_filename),
                original_filename=request.input.original_filename,
                bytes=request.input.bytes,
                mime_type=request.input.mime_type,
            ),
            logs=[
                LogEntry(
                    time=now,
                    level="info",
                    message=f"job created; waiting for the upload ({request.input.bytes} bytes)",
                )
            ],
            created_at=now,
            updated_at=now,
        )
        try:
            await self.manifests.create(keys, manifest)
        except BaseException:
            if idempotency_key is not None:  # free the key: the client's retry must not 409
                with anyio.CancelScope(shield=True):
                    await self.storage.delete(
                        self._idempotency_record_key(ctx.tenant_id, idempotency_key)
                    )
            raise
        self.metrics.jobs_created.inc()
        log.info("job created", extra={"jobId": keys.job_id})
        return manifest, keys

    # --- GET /jobs/{id} ---------------------------------------------------------------------

    async def get_job(self, ctx: RequestContext, job_id: str) -> JobView:
        keys = self.job_keys(ctx, job_id)
        return job_view(await self._load(keys), keys)

    # --- GET /jobs --------------------------------------------------------------------------

    async def list_jobs(
        self, ctx: RequestContext, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> JobList:
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit: between 1 and {MAX_LIST_LIMIT}")
        after = decode_cursor(cursor) if cursor else None
        tenant_prefix = f"{self.env}/{ctx.tenant_id}/"
        # One folder per job (and `assets`): a delimiter listing, not every artifact's key.
        # A folder without a valid manifest is skipped by _summary.
        job_ids = sorted(
            (j for j in await self.storage.list_children(tenant_prefix) if NAME_RE.fullmatch(j)),
            reverse=True,  # job ids are time-ordered: newest first
        )
        if after is not None:
            job_ids = [j for j in job_ids if j < after]
        found: list[JobSummary] = []
        for start in range(0, len(job_ids), _LIST_BATCH):
            batch = job_ids[start : start + _LIST_BATCH]
            manifests = await asyncio.gather(*(self._summary(ctx, j) for j in batch))
            for summary in manifests:
                if summary is not None and (status is None or summary.status == status):
                    found.append(summary)
            if len(found) > limit:
                break
        page = found[:limit]
        next_cursor = encode_cursor(page[-1].job_id) if len(found) > limit else None
        return JobList(jobs=page, next_cursor=next_cursor)

    async def _summary(self, ctx: RequestContext, job_id: str) -> JobSummary | None:
        try:
            keys = JobKeys(self.env, ctx.tenant_id, job_id)
            manifest = await self.manifests.get(keys)
        except (InvalidKey, NotFound, ManifestInvalid):
            return None
        return JobSummary(
            job_id=job_id,
            status=manifest.status,
            created_at=manifest.created_at,
            updated_at=manifest.updated_at,
            original_filename=manifest.input.original_filename if manifest.input else None,
            manifest_key=keys.manifest,
        )

    # --- PUT /jobs/{id}/input ---------------------------------------------------------------

    def _claim_upload(self, now: datetime) -> Callable[[Manifest], Manifest]:
        ttl = timedelta(seconds=self.settings.upload_claim_ttl_seconds)

        def change(m: Manifest) -> Manifest:
            _check_uploadable(m)
            record = m.steps.get(UPLOAD_STEP)
            if (
                record is not None
                and record.status == StepStatus.RUNNING
                and now - record.started_at < ttl
            ):
                raise Conflict(
                    "an upload for this job is already in progress",
                    extra={"status": m.status.value},
                )
            attempts = record.attempts + 1 if record is not None else 1
            running = StepRecord(status=StepStatus.RUNNING, attempts=attempts, started_at=now)
            return _with_step(m, running, "info", f"upload started (attempt {attempts})")

        return change

    def _finish_upload(
        self,
        started: datetime,
        outcome: StepStatus,
        level: str,
        message: str,
        job_update: Mapping[str, Any] | None = None,
    ) -> Callable[[Manifest], Manifest]:
        def change(m: Manifest) -> Manifest:
            record = m.steps.get(UPLOAD_STEP)
            if record is None or record.started_at != started:
                raise Conflict("the upload was taken over by another request")
            if outcome == StepStatus.SUCCEEDED and m.status != JobStatus.PENDING:
                raise Conflict(
                    f"the job became {m.status.value} during the upload; it was not submitted",
                    extra={"status": m.status.value},
                )
            now = utcnow()
            finished = StepRecord(
                status=outcome,
                attempts=record.attempts,
                started_at=started,
                finished_at=now,
                duration_sec=round((now - started).total_seconds(), 3),
            )
            return _with_step(m.model_copy(update=dict(job_update or {})), finished, level, message)

        return change

    async def _release(self, keys: JobKeys, started: datetime, reason: str) -> None:
        """Give the claim back (the client may upload again), recording why."""
        with anyio.CancelScope(shield=True):
            try:
                await self.manifests.update(
                    keys,
                    self._finish_upload(started, StepStatus.FAILED, "warning", reason),
                )
            except Exception as exc:  # the original error matters more
                log.warning("could not release the upload claim: %s", exc)

    async def upload_input(
        self,
        ctx: RequestContext,
        job_id: str,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None,
    ) -> UploadAccepted:
        keys = self.job_keys(ctx, job_id)
        manifest = await self._load(keys)
        _check_uploadable(manifest)
        assert manifest.input is not None
        declared = manifest.input.bytes
        limit = min(declared, self.settings.max_upload_bytes)
        if content_length is not None:
            if content_length > limit:
                raise _too_large(limit, declared)
            if content_length < declared:
                raise InvalidRequest(
                    f"Content-Length {content_length} does not match the declared "
                    f"input.bytes {declared}"
                )
        if not self._ffprobe_available():
            raise Unavailable("the media probe (ffprobe) is not available on this server")

        started = utcnow()
        await self.manifests.update(keys, self._claim_upload(started))
        key = manifest.input.key
        began = time.perf_counter()
        try:
            stored = await self.storage.write_stream(key, _counted(chunks, limit))
        except _UploadTooLarge:
            self.metrics.uploads.labels("too_large").inc()
            await self._release(keys, started, f"upload refused: more than {limit} bytes")
            raise _too_large(limit, declared) from None
        except BaseException as exc:
            self.metrics.uploads.labels("interrupted").inc()
            await self._release(keys, started, f"upload interrupted: {type(exc).__name__}")
            raise
        seconds = time.perf_counter() - began
        log.info(
            "input stored",
            extra={"bytes": stored.size, "seconds": round(seconds, 3), "key": key},
        )
        if stored.size != declared:
            self.metrics.uploads.labels("incomplete").inc()
            await self.storage.delete(key)
            await self._release(
                keys, started, f"upload incomplete: {stored.size} of {declared} bytes"
            )
            raise InvalidRequest(
                f"upload incomplete: received {stored.size} of the declared {declared} bytes"
            )

        try:
            info = await self._probe_stored(stored)
        except InputInvalid as exc:
            self.metrics.uploads.labels("invalid").inc()
            await self._record_invalid(keys, started, exc.detail)
            raise
        except BaseException:
            await self._release(keys, started, "upload check interrupted")
            raise

        summary = media_check.describe(info)
        manifest = await self.manifests.update(
            keys,
            self._finish_upload(
                started,
                StepStatus.SUCCEEDED,
                "info",
                f"input uploaded: {stored.size} bytes, {summary}",
            ),
        )
        assert manifest.input is not None
        event = self._event(
            ctx,
            "job.submitted",
            JobSubmitted(
                job_id=keys.job_id,
                tenant_id=keys.tenant_id,
                env=keys.env,
                options=manifest.options,
                input=manifest.input,
                manifest_key=keys.manifest,
            ),
        )
        try:
            await self._publish(ctx, event)
        except ApiError:
            # Not submitted: give the claim back so the client can simply upload again.
            await self._release(keys, started, "submission to the pipeline failed")
            self.metrics.uploads.labels("not_submitted").inc()
            raise
        self.metrics.uploads.labels("accepted").inc()
        self.metrics.upload_bytes.inc(stored.size)
        return UploadAccepted(
            job_id=keys.job_id,
            tenant_id=keys.tenant_id,
            status=manifest.status,
            manifest_key=keys.manifest,
            input=UploadedInput(
                key=key,
                original_filename=manifest.input.original_filename,
                bytes=stored.size,
                mime_type=manifest.input.mime_type,
                duration_sec=info.duration,
                has_video=info.video is not None,
                has_audio=info.audio is not None,
            ),
        )

    async def _probe_stored(self, stored: ObjectInfo) -> MediaInfo:
        local = self.storage.local_path(stored.key)
        if local is not None and local.is_file():
            return await self._probe_path(local)
        with tempfile.TemporaryDirectory(prefix="avocado-api-probe-") as scratch:
            copy = Path(scratch) / ("input" + Path(stored.key).suffix)
            await self.storage.download_to(stored.key, copy)
            return await self._probe_path(copy)

    async def _probe_path(self, path: Path) -> MediaInfo:
        try:
            with anyio.fail_after(self.settings.probe_timeout_seconds):
                info = await self._probe(path)
        except ProbeError:
            head = await anyio.to_thread.run_sync(_read_head, path)
            raise InputInvalid(media_check.explain_unreadable(head)) from None
        except TimeoutError:
            raise InputInvalid(
                f"{media_check.NOT_MEDIA} Reading it took longer than "
                f"{self.settings.probe_timeout_seconds:g} s."
            ) from None
        problem = media_check.media_problem(info)
        if problem is not None:
            head = await anyio.to_thread.run_sync(_read_head, path)
            if looks_like_text(head):  # ffprobe read a text file as a "video"
                raise InputInvalid(media_check.explain_unreadable(head))
            raise InputInvalid(problem)
        return info

    async def _record_invalid(self, keys: JobKeys, started: datetime, message: str) -> None:
        error = ErrorInfo(code=ErrorCode.INPUT_INVALID, message=message, step=UPLOAD_STEP)
        with anyio.CancelScope(shield=True):
            await self.manifests.update(
                keys,
                self._finish_upload(
                    started,
                    StepStatus.FAILED,
                    "error",
                    f"input rejected: {message}",
                    {"status": JobStatus.FAILED, "error": error},
                ),
            )
        log.info("input rejected: %s", message)

    # --- GET /jobs/{id}/artifacts/{path} ----------------------------------------------------

    async def open_artifact(
        self,
        ctx: RequestContext,
        job_id: str,
        path: str,
        *,
        range_header: str | None,
        if_range: str | None,
    ) -> Download:
        key, info = await self._artifact(ctx, job_id, path)
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

    async def _artifact(
        self, ctx: RequestContext, job_id: str, path: str
    ) -> tuple[str, ObjectInfo]:
        """The storage key and info of an artifact of the tenant's job (404 otherwise)."""
        keys = self.job_keys(ctx, job_id)
        if path.startswith(keys.prefix):  # a full storage key, as GET /jobs/{id} lists them
            path = path[len(keys.prefix) :]
        try:
            key = keys.key(path)
        except InvalidKey:
            raise InvalidRequest(f"invalid artifact path {path!r}") from None
        if not await self.manifests.exists(keys):
            raise JobNotFound(job_id)
        try:
            return key, await self.storage.info(key)
        except NotFound:
            raise _artifact_not_found(path) from None

    # --- GET /jobs/{id}/links/{path} ------------------------------------------------------------

    async def artifact_link(
        self, ctx: RequestContext, job_id: str, path: str, *, api_url: str
    ) -> ArtifactLink:
        """A direct, time-limited download URL where the storage has them (S3), else the API's
        own artifact URL (which needs the API key)."""
        key, info = await self._artifact(ctx, job_id, path)
        seconds = self.settings.storage.presign_seconds
        url = await self.storage.presigned_url(
            key, expires_seconds=seconds, download_name=key.rsplit("/", 1)[-1]
        )
        if url is None:
            return ArtifactLink(url=api_url, direct=False, expires_at=None, bytes=info.size)
        expires = utcnow() + timedelta(seconds=seconds)
        return ArtifactLink(url=url, direct=True, expires_at=expires, bytes=info.size)

    # --- POST /jobs/{id}/cancel, /retry -----------------------------------------------------

    async def cancel(self, ctx: RequestContext, job_id: str, reason: str | None) -> JobStatus:
        """Returns the status now: `cancelled` when the job never reached the pipeline."""
        keys = self.job_keys(ctx, job_id)
        manifest = await self._load(keys)
        if manifest.status in TERMINAL:
            raise _ended(manifest, "cancelled")
        if _never_submitted(manifest):
            # Nobody else knows this job yet: cancel it here, unless an upload submits it first.
            def change(m: Manifest) -> Manifest:
                if not _never_submitted(m) or m.status in TERMINAL:
                    raise Conflict("the job was submitted meanwhile; cancel again")
                entry = LogEntry(time=utcnow(), level="info", message="cancelled before upload")
                return m.model_copy(
                    update={"status": JobStatus.CANCELLED, "logs": [*m.logs, entry]}
                )

            return (await self.manifests.update(keys, change)).status
        event = self._event(
            ctx,
            "job.cancel-requested",
            JobCancelRequested(
                job_id=keys.job_id, tenant_id=keys.tenant_id, env=keys.env, reason=reason
            ),
        )
        await self._publish(ctx, event)
        return manifest.status

    async def retry(self, ctx: RequestContext, job_id: str) -> JobStatus:
        keys = self.job_keys(ctx, job_id)
        manifest = await self._load(keys)
        if manifest.status != JobStatus.FAILED:
            raise Conflict(
                f"only a failed job can be retried; this one is {manifest.status.value}",
                extra={"status": manifest.status.value},
            )
        if manifest.error is not None and manifest.error.step == UPLOAD_STEP:
            raise Conflict(
                "the uploaded file was rejected, so there is nothing to retry; "
                "create a new job with a valid recording",
                extra={"status": manifest.status.value},
            )
        event = self._event(
            ctx,
            "job.retry-requested",
            JobRetryRequested(job_id=keys.job_id, tenant_id=keys.tenant_id, env=keys.env),
        )
        await self._publish(ctx, event)
        return manifest.status

    # --- GET /jobs/{id}/events --------------------------------------------------------------

    async def open_events(self, ctx: RequestContext, job_id: str) -> AsyncIterator[str]:
        """404 unless the job exists; then the SSE stream (text frames) to send."""
        keys = self.job_keys(ctx, job_id)
        await self._load(keys)  # 404 before the stream starts
        return self._event_stream(ctx, keys)

    async def _event_stream(self, ctx: RequestContext, keys: JobKeys) -> AsyncIterator[str]:
        # Subscribed here, when the response starts, so the subscription's lifetime is the
        # generator's; first subscribe, then read the manifest: nothing in between is lost.
        subscription = self.status_feed.subscribe(keys.job_id)
        queue: asyncio.Queue[CloudEvent | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in subscription:
                    queue.put_nowait(event)
            except Exception as exc:  # the stream ends; the client reconnects
                log.warning("status feed of job %s failed: %s", keys.job_id, exc)
            finally:
                queue.put_nowait(None)

        pump_task = asyncio.create_task(pump())
        try:
            manifest = await self._load(keys)
            current = self._status_event(ctx, manifest)
            yield sse_frame(current)
            last = manifest.status
            if last in TERMINAL:
                return
            keepalive = self.settings.sse_keepalive_seconds
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=keepalive)
                except TimeoutError:
                    # A missed event must not leave the client waiting forever: re-read.
                    manifest = await self._load(keys)
                    if manifest.status != last:
                        last = manifest.status
                        yield sse_frame(self._status_event(ctx, manifest))
                        if last in TERMINAL:
                            return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return  # the feed ended
                if event.type != "job.status-changed" or event.subject != keys.job_id:
                    continue
                yield sse_frame(event)
                try:
                    last = JobStatus(str(event.data.get("status")))
                except ValueError:
                    continue
                if last in TERMINAL:
                    return
        finally:
            pump_task.cancel()
            close = getattr(subscription, "aclose", None)
            with anyio.CancelScope(shield=True):
                if close is not None:
                    await close()
                await asyncio.gather(pump_task, return_exceptions=True)

    def _status_event(self, ctx: RequestContext, manifest: Manifest) -> CloudEvent:
        payload = JobStatusChanged(
            job_id=manifest.job_id,
            tenant_id=manifest.tenant_id,
            env=manifest.env,
            status=manifest.status,
            progress=1.0 if manifest.status == JobStatus.COMPLETED else 0.0,
            message="current status",
            error=(
                StepError(code=manifest.error.code, message=manifest.error.message)
                if manifest.error
                else None
            ),
        )
        return new_event(
            "job.status-changed",
            payload,
            source=SOURCE,
            subject=manifest.job_id,
            tenant_id=manifest.tenant_id,
            correlation_id=ctx.correlation_id,
            traceparent=ctx.traceparent,
        )


def _always() -> bool:
    return True


def _ffprobe_on_path() -> bool:
    return shutil.which("ffprobe") is not None


def sse_frame(event: CloudEvent) -> str:
    body = event.model_dump_json(exclude_none=True)
    return f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n"


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


def _with_step(m: Manifest, record: StepRecord, level: str, message: str) -> Manifest:
    entry = LogEntry.model_validate(
        {"time": utcnow(), "level": level, "step": UPLOAD_STEP, "message": message}
    )
    return m.model_copy(
        update={"steps": {**m.steps, UPLOAD_STEP: record}, "logs": [*m.logs, entry]}
    )


def _never_submitted(m: Manifest) -> bool:
    record = m.steps.get(UPLOAD_STEP)
    return m.status == JobStatus.PENDING and (
        record is None or record.status != StepStatus.SUCCEEDED
    )


def _check_uploadable(m: Manifest) -> None:
    record = m.steps.get(UPLOAD_STEP)
    if m.status != JobStatus.PENDING:
        raise Conflict(
            f"the job is {m.status.value}; its input can only be uploaded while it is pending",
            extra={"status": m.status.value},
        )
    if record is not None and record.status == StepStatus.SUCCEEDED:
        raise Conflict("the input was already uploaded", extra={"status": m.status.value})
    if m.input is None:
        raise Conflict("the job declares no input", extra={"status": m.status.value})


def _ended(m: Manifest, what: str) -> Conflict:
    return Conflict(
        f"the job has already ended ({m.status.value}) and cannot be {what}",
        extra={"status": m.status.value},
    )


def _too_large(limit: int, declared: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than {limit} bytes (declared input.bytes: {declared})"
    )


def _artifact_not_found(path: str) -> ApiError:
    return NotFoundError(f"no artifact {path!r} in this job")
