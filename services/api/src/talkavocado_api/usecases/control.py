"""Control a job: cancel it, or retry it after a failure."""

from __future__ import annotations

from talkavocado_common.active_jobs import ActiveJobs, resume_request
from talkavocado_common.events import JobCancelRequested, JobRetryRequested
from talkavocado_common.models import JobStatus, LogEntry, Manifest

from .common import TERMINAL, UPLOAD_STEP, JobCommands, JobStore, RequestContext, utcnow
from .errors import Conflict
from .upload_claim import never_submitted


def _ended(m: Manifest, what: str) -> Conflict:
    return Conflict(
        f"the job has already ended ({m.status.value}) and cannot be {what}", status=m.status
    )


def cancel_before_upload(m: Manifest) -> Manifest:
    """Cancel a job nobody else knows yet, unless an upload submitted it meanwhile."""
    if not never_submitted(m) or m.status in TERMINAL:
        raise Conflict("the job was submitted meanwhile; cancel again")
    entry = LogEntry(time=utcnow(), level="info", message="cancelled before upload")
    return m.model_copy(update={"status": JobStatus.CANCELLED, "logs": [*m.logs, entry]})


class JobControl:
    def __init__(self, *, jobs: JobStore, commands: JobCommands) -> None:
        self.jobs = jobs
        self.commands = commands

    async def cancel(self, ctx: RequestContext, job_id: str, reason: str | None) -> JobStatus:
        """The status now: `cancelled` when the job never reached the pipeline (cancelled here),
        else unchanged (the pipeline is asked to stop)."""
        keys = self.jobs.keys(ctx, job_id)
        manifest = await self.jobs.load(keys)
        if manifest.status in TERMINAL:
            raise _ended(manifest, "cancelled")
        if never_submitted(manifest):
            return (await self.jobs.manifests.update(keys, cancel_before_upload)).status
        request = JobCancelRequested(
            job_id=keys.job_id, tenant_id=keys.tenant_id, env=keys.env, reason=reason
        )
        await self.commands.send(ctx, "job.cancel-requested", request)
        return manifest.status

    async def retry(self, ctx: RequestContext, job_id: str) -> JobStatus:
        """The status now (failed): the pipeline re-runs the job from the step that failed."""
        keys = self.jobs.keys(ctx, job_id)
        manifest = await self.jobs.load(keys)
        if manifest.status != JobStatus.FAILED:
            raise Conflict(
                f"only a failed job can be retried; this one is {manifest.status.value}",
                status=manifest.status,
            )
        if manifest.error is not None and manifest.error.step == UPLOAD_STEP:
            raise Conflict(
                "the uploaded file was rejected, so there is nothing to retry; "
                "create a new job with a valid recording",
                status=manifest.status,
            )
        # The manifest's record goes with the request: the orchestrator resumes from it a job
        # whose row it no longer has (retention ended, the embedded stack restarted).
        record = resume_request(keys, manifest).model_copy(update={"reason": "retry requested"})
        request = JobRetryRequested(
            job_id=keys.job_id, tenant_id=keys.tenant_id, env=keys.env, resume=record
        )
        # Indexed again before the job can become active again (talkavocado_common.active_jobs).
        await ActiveJobs(self.jobs.manifests.storage, keys.env).add(keys)
        await self.commands.send(ctx, "job.retry-requested", request)
        return manifest.status
