"""What the use cases share: the caller's context, the tenant's jobs and the command publisher."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from talkavocado_common.events import CloudEvent, new_event
from talkavocado_common.events.models import JobRef
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import JobStatus, Manifest
from talkavocado_common.storage import InvalidKey, JobKeys, NotFound

from ..metrics import ApiMetrics
from ..ports import EventPublisher
from .errors import InvalidInput, JobNotFound, Unavailable

# The application layer's logger; the name predates the split into use cases, and log queries
# may filter on it.
log = logging.getLogger("talkavocado_api.service")

SOURCE = "talkavocado-api"
UPLOAD_STEP = "upload"
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class RequestContext:
    """The authenticated caller and the request's tracing ids."""

    tenant_id: str
    correlation_id: str
    traceparent: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_event(ctx: RequestContext, event_type: str, payload: JobRef) -> CloudEvent:
    """An event about one job, in the caller's trace."""
    return new_event(
        event_type,
        payload,
        source=SOURCE,
        subject=payload.job_id,
        tenant_id=payload.tenant_id,
        correlation_id=ctx.correlation_id,
        traceparent=ctx.traceparent,
    )


class JobStore:
    """The caller's jobs. Every lookup is scoped to the caller's tenant, so a tenant id that is
    not the caller's never reaches storage; an unknown job and another tenant's are the same
    JobNotFound."""

    def __init__(self, env: str, manifests: ManifestStore) -> None:
        self.env = env
        self.manifests = manifests

    def keys(self, ctx: RequestContext, job_id: str) -> JobKeys:
        """The job's keys; a malformed job id is invalid input (400), not an unknown job."""
        try:
            return JobKeys(self.env, ctx.tenant_id, job_id)
        except InvalidKey:
            raise InvalidInput("jobId", f"{job_id!r} is not a job id") from None

    async def load(self, keys: JobKeys) -> Manifest:
        try:
            return await self.manifests.get(keys)
        except NotFound:
            raise JobNotFound(keys.job_id) from None


class JobCommands:
    """Publishes job commands; returns once the broker has them, else raises Unavailable."""

    def __init__(self, publisher: EventPublisher, topic: str, metrics: ApiMetrics) -> None:
        self.publisher = publisher
        self.topic = topic
        self.metrics = metrics

    async def send(self, ctx: RequestContext, event_type: str, payload: JobRef) -> None:
        event = job_event(ctx, event_type, payload)
        try:
            await self.publisher.publish(self.topic, event)
        except Exception as exc:
            log.error("publishing %s failed: %s", event.type, exc)
            raise Unavailable(
                "the job could not be submitted to the pipeline right now; try again"
            ) from exc
        self.metrics.events_published.labels(event.type).inc()
        log.info("published %s", event.type, extra={"eventId": event.id})
