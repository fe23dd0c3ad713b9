"""Create a job: a pending manifest that waits for its upload, at most once per idempotency key."""

from __future__ import annotations

import hashlib
import json

import anyio

from talkavocado_common.ids import new_job_id
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import InputInfo, JobOptions, JobStatus, LogEntry, Manifest
from talkavocado_common.storage import JobKeys, PreconditionFailed, Storage
from talkavocado_common.storage.keys import build_key

from ..admission import RateLimiter
from ..metrics import ApiMetrics
from ..schemas import CreateJobRequest
from ..settings import ApiSettings
from .common import RequestContext, log, utcnow
from .errors import IdempotencyKeyReused, InvalidInput, TooManyRequests

MAX_IDEMPOTENCY_KEY = 255


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not (0 < len(value) <= MAX_IDEMPOTENCY_KEY)
        or not value.isprintable()
        or not value.isascii()
    ):
        raise InvalidInput(
            "Idempotency-Key", f"1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters expected"
        )
    return value


class IdempotencyRecords:
    """One record per (tenant, key), written only if absent: the first job a key created."""

    def __init__(self, storage: Storage, env: str) -> None:
        self.storage = storage
        self.env = env

    def record_key(self, tenant_id: str, idempotency_key: str) -> str:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        return build_key(self.env, tenant_id, "idempotency", f"{digest}.json")

    async def claim(self, keys: JobKeys, idempotency_key: str) -> None:
        """Claim the key for the job `keys` will create. Of two racing requests exactly one
        conditional write wins; the other gets IdempotencyKeyReused with the winner's job."""
        record_key = self.record_key(keys.tenant_id, idempotency_key)
        record = {"jobId": keys.job_id, "manifestKey": keys.manifest, "createdAt": str(utcnow())}
        try:
            await self.storage.write_bytes(
                record_key, json.dumps(record).encode(), if_none_match=True
            )
        except PreconditionFailed:
            data, _ = await self.storage.read_bytes(record_key)
            first = json.loads(data)
            raise IdempotencyKeyReused(first["jobId"], first["manifestKey"]) from None

    async def free(self, tenant_id: str, idempotency_key: str) -> None:
        """Forget a claim whose job was never created, so the client's retry is not refused."""
        with anyio.CancelScope(shield=True):
            await self.storage.delete(self.record_key(tenant_id, idempotency_key))


def new_manifest(keys: JobKeys, request: CreateJobRequest) -> Manifest:
    now = utcnow()
    return Manifest(
        job_id=keys.job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
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


class CreateJob:
    def __init__(
        self,
        settings: ApiSettings,
        *,
        manifests: ManifestStore,
        idempotency: IdempotencyRecords,
        metrics: ApiMetrics,
        rate_limit: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.env = settings.env
        self.manifests = manifests
        self.idempotency = idempotency
        self.metrics = metrics
        # Per tenant and per process (admission.py): each API replica has its own budget.
        self.rate_limit = rate_limit or RateLimiter(
            settings.create_rate_per_minute / 60, settings.create_burst, what="job creations"
        )

    async def __call__(
        self, ctx: RequestContext, request: CreateJobRequest, idempotency_key: str | None
    ) -> JobKeys:
        """The new job's keys. The caller has checked the body's tenant against its own."""
        refusal = self.rate_limit.check(ctx.tenant_id)
        if refusal is not None:
            log.info("job creation refused: rate limit", extra={"tenantId": ctx.tenant_id})
            raise TooManyRequests(refusal.reason, refusal.retry_after)
        idempotency_key = check_idempotency_key(idempotency_key)
        if request.tenant_id != ctx.tenant_id:
            raise AssertionError("the route checks the body's tenant against the key's")
        if request.input.bytes > self.settings.max_upload_bytes:
            raise InvalidInput(
                "input.bytes",
                f"{request.input.bytes} exceeds the maximum upload size of "
                f"{self.settings.max_upload_bytes} bytes",
            )
        keys = JobKeys(self.env, ctx.tenant_id, new_job_id())
        if idempotency_key is not None:  # claimed before anything is created
            await self.idempotency.claim(keys, idempotency_key)
        try:
            await self.manifests.create(keys, new_manifest(keys, request))
        except BaseException:
            if idempotency_key is not None:
                await self.idempotency.free(keys.tenant_id, idempotency_key)
            raise
        self.metrics.jobs_created.inc()
        log.info("job created", extra={"jobId": keys.job_id})
        return keys
