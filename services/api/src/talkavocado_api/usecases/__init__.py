"""The API's application layer: one module per use case, over storage, the manifest store, the
command publisher and the status feed.

| module | use case |
|---|---|
| `create` | create a job (at most once per idempotency key) |
| `upload` | upload its recording (claim: `upload_claim`, media check: `probe`) and submit it |
| `read` | one job, or a page of the tenant's jobs |
| `artifacts` | download an artifact, or get a link to it |
| `control` | cancel or retry a job |
| `review` | the plan to review, a person's edits over it, a render of them as a revision |
| `stream` | follow a job's status |
| `webhooks` | register, list and remove webhooks; read a webhook's delivery log |

Use cases take the caller's `RequestContext`, return typed results and raise `UseCaseError`s
(`errors`); they know nothing of HTTP. The routes call them, and `talkavocado_api.errors` turns
their errors into responses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from talkavocado_common.events import Topics
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.storage import Storage

from ..metrics import ApiMetrics
from ..ports import EventPublisher, StatusFeed
from ..settings import ApiSettings
from .artifacts import ArtifactDownloads
from .common import JobCommands, JobStore, RequestContext
from .control import JobControl
from .create import CreateJob, IdempotencyRecords
from .probe import MediaProbe, Prober
from .read import ReadJobs
from .review import Review
from .stream import StatusStream
from .upload import UploadInput
from .webhooks import Webhooks

__all__ = ["Prober", "RequestContext", "UseCases", "build_use_cases"]


@dataclass(frozen=True)
class UseCases:
    create: CreateJob
    upload: UploadInput
    read: ReadJobs
    artifacts: ArtifactDownloads
    control: JobControl
    stream: StatusStream
    review: Review
    webhooks: Webhooks


def build_use_cases(
    settings: ApiSettings,
    *,
    storage: Storage,
    publisher: EventPublisher,
    status_feed: StatusFeed,
    metrics: ApiMetrics,
    prober: Prober | None = None,
    ffprobe_available: Callable[[], bool] | None = None,
) -> UseCases:
    """Every use case over the same adapters. `prober` defaults to ffprobe."""
    manifests = ManifestStore(storage)
    jobs = JobStore(settings.env, manifests)
    commands = JobCommands(publisher, Topics(settings.kafka.topic_prefix).commands, metrics)
    probe = MediaProbe(settings, storage, prober=prober, available=ffprobe_available)
    return UseCases(
        create=CreateJob(
            settings,
            manifests=manifests,
            idempotency=IdempotencyRecords(storage, settings.env),
            metrics=metrics,
        ),
        upload=UploadInput(
            settings, jobs=jobs, storage=storage, commands=commands, probe=probe, metrics=metrics
        ),
        read=ReadJobs(jobs=jobs, storage=storage),
        artifacts=ArtifactDownloads(settings, jobs=jobs, storage=storage),
        control=JobControl(jobs=jobs, commands=commands),
        stream=StatusStream(settings, jobs=jobs, feed=status_feed),
        review=Review(jobs=jobs, commands=commands, storage=storage),
        webhooks=Webhooks(storage=storage, env=settings.env),
    )
