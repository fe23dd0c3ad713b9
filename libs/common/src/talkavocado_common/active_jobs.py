"""The index of active jobs in storage, and what the reconciler does about each (docs/architecture.md
§4, "The manifest is the record; Kafka is the transport").

One small object per job that may still need the pipeline, at `{env}/_active/{tenantId}/{jobId}`
(storage.keys): the reconciler lists that prefix instead of every job.

- The API adds the entry *before* the job can be seen as submitted (before the upload is
  recorded as succeeded, before a retry is published), so no crash leaves an active job out.
- Only the reconciler removes it, once the manifest says the job has ended (a durable status)
  or has no manifest; it then reads the manifest again and puts the entry back if the job became
  active meanwhile (a retry).

`decide` is the pure part: the manifest (and the clock) in, one decision out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .events import JobResumeRequested, JobSubmitted
from .models import JobStatus, Manifest, Revision, StepStatus
from .storage import JobKeys, Storage
from .storage.keys import active_prefix, parse_active_key

UPLOAD_STEP = "upload"
"""The API's step record of the upload (its claim), in the manifest's `steps`."""
ENDED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class Resubmit:
    """Pending with its upload recorded longer than the grace period: the API stopped between
    recording the upload and publishing the job (or the broker lost it). Publish it again."""

    event: JobSubmitted


@dataclass(frozen=True)
class Resume:
    """Processing: ask the agent that owns the job to resume it if it has no row."""

    event: JobResumeRequested


@dataclass(frozen=True)
class Forget:
    """The job has ended (or has no manifest): drop its index entry."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do now (waiting for an upload, or a submission just published)."""

    reason: str


Decision = Resubmit | Resume | Forget | Wait


def decide(keys: JobKeys, manifest: Manifest | None, now: datetime, grace: timedelta) -> Decision:
    """What to do about one indexed job, from its manifest (None: there is none)."""
    if manifest is None:
        return Forget("the job has no manifest")
    if manifest.status in ENDED:
        return Forget(f"the job is {manifest.status.value}")
    if manifest.status is JobStatus.PROCESSING:
        return Resume(resume_request(keys, manifest))
    upload = manifest.steps.get(UPLOAD_STEP)
    if upload is None or upload.status is not StepStatus.SUCCEEDED or manifest.input is None:
        return Wait("waiting for its upload")
    recorded = upload.finished_at or upload.started_at
    if now - recorded < grace:
        return Wait("its upload was recorded moments ago; the API is submitting it")
    return Resubmit(submission(keys, manifest))


def submission(keys: JobKeys, manifest: Manifest) -> JobSubmitted:
    """The job.submitted of a job whose upload is recorded: the same from the API that uploaded
    it and from the reconciler that submits it again."""
    if manifest.input is None:
        raise ValueError(f"job {keys.job_id} has no input recorded")
    return JobSubmitted(
        job_id=keys.job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
        options=manifest.options,
        input=manifest.input,
        manifest_key=keys.manifest,
    )


def resume_request(keys: JobKeys, manifest: Manifest) -> JobResumeRequested:
    """What the manifest says about a processing job's steps, for the transition's resume_job.
    A job rendering a review revision (its newest, not rendered yet) resumes that revision:
    only the steps that succeeded since it was requested count as done."""
    steps = {name: record for name, record in manifest.steps.items() if name != UPLOAD_STEP}
    revision = _rendering_revision(manifest)
    since = revision.requested_at if revision is not None else None
    succeeded = [
        name
        for name, record in steps.items()
        if record.status is StepStatus.SUCCEEDED and (since is None or record.started_at >= since)
    ]
    return JobResumeRequested(
        job_id=keys.job_id,
        tenant_id=keys.tenant_id,
        env=keys.env,
        manifest_key=keys.manifest,
        options=manifest.options,
        status=manifest.status,
        succeeded=sorted(succeeded),
        attempts={name: record.attempts for name, record in steps.items()},
        reason="the reconciler found the job processing in storage",
        revision=revision.revision if revision is not None else None,
    )


def _rendering_revision(manifest: Manifest) -> Revision | None:
    """The review revision a processing job is rendering: its newest, while it has no render."""
    newest = max(manifest.revisions, key=lambda r: r.revision, default=None)
    if newest is None or any(r.kind == "final" for r in newest.renders):
        return None
    return newest


class ActiveJobs:
    """The index of one environment's active jobs in `storage`."""

    def __init__(self, storage: Storage, env: str) -> None:
        self.storage = storage
        self.prefix = active_prefix(env)

    async def add(self, keys: JobKeys) -> None:
        """Index the job (idempotent: the same key, overwritten)."""
        entry = {"jobId": keys.job_id, "tenantId": keys.tenant_id, "since": _now().isoformat()}
        await self.storage.write_bytes(keys.active, json.dumps(entry).encode())

    async def remove(self, keys: JobKeys) -> None:
        await self.storage.delete(keys.active)

    async def list(self) -> list[JobKeys]:
        """The indexed jobs (one listing of the index's prefix, not of the jobs)."""
        found = (parse_active_key(key) for key in await self.storage.list(self.prefix))
        return [keys for keys in found if keys is not None and keys.active.startswith(self.prefix)]


def _now() -> datetime:
    return datetime.now(UTC)
