"""Read the caller's jobs: one job in the original API's shape, or a page of summaries."""

from __future__ import annotations

import asyncio
from typing import Literal

from talkavocado_common.manifest_store import ManifestInvalid
from talkavocado_common.models import JobStatus, Manifest
from talkavocado_common.storage import InvalidKey, JobKeys, NotFound, Storage
from talkavocado_common.storage.keys import NAME_RE

from ..schemas import Artifacts, InputView, JobList, JobSummary, JobView, RevisionView
from .common import JobStore, RequestContext
from .errors import InvalidInput

MAX_LIST_LIMIT = 100
_LIST_BATCH = 16


def revision_views(manifest: Manifest) -> list[RevisionView]:
    """Every render of the edit, the newest first: the automatic edit's (revision 1, from the
    manifest's own renders and subtitles) and each review revision's."""
    final = [r for r in manifest.renders if r.kind == "final"]
    views: list[RevisionView] = []
    if final or manifest.plan.timeline is not None:
        views.append(
            RevisionView(
                revision=1,
                status="completed" if final else _unfinished(manifest, 1),
                render=final[0].key if final else None,
                duration_sec=final[0].duration_sec if final else None,
                subtitles=[s.key for s in manifest.subtitles if s.kind == "final"],
                exports=[e.key for e in manifest.exports],
                requested_at=manifest.created_at,
            )
        )
    for revision in manifest.revisions:
        rendered = [r for r in revision.renders if r.kind == "final"]
        views.append(
            RevisionView(
                revision=revision.revision,
                status="completed" if rendered else _unfinished(manifest, revision.revision),
                render=rendered[0].key if rendered else None,
                duration_sec=rendered[0].duration_sec if rendered else None,
                subtitles=[s.key for s in revision.subtitles if s.kind == "final"],
                exports=[e.key for e in revision.exports],
                requested_at=revision.requested_at,
            )
        )
    return sorted(views, key=lambda v: v.revision, reverse=True)


def _unfinished(manifest: Manifest, revision: int) -> Literal["rendering", "failed"]:
    """A revision without its render: the newest is rendering unless the job failed or was
    cancelled (while the orchestrator has not started it yet, the job still says completed);
    an older one did not make it."""
    newest = max((r.revision for r in manifest.revisions), default=1)
    stopped = manifest.status in (JobStatus.FAILED, JobStatus.CANCELLED)
    return "rendering" if revision == newest and not stopped else "failed"


def job_view(manifest: Manifest, keys: JobKeys) -> JobView:
    """The manifest reduced to the original API's shape, with the input and the revisions."""
    source = manifest.input
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
            exports=[e.key for e in manifest.exports],
        ),
        manifest_key=keys.manifest,
        updated_at=manifest.updated_at,
        created_at=manifest.created_at,
        error=manifest.error,
        input=InputView(
            key=source.key, original_filename=source.original_filename, bytes=source.bytes
        )
        if source is not None
        else None,
        revisions=revision_views(manifest),
    )


def encode_cursor(job_id: str) -> str:
    """The next page starts after this job: the cursor is its id (ids are time-ordered)."""
    return job_id


def decode_cursor(cursor: str) -> str:
    if not NAME_RE.fullmatch(cursor) or ".." in cursor:
        raise InvalidInput("cursor", "not a cursor returned by this API")
    return cursor


class ReadJobs:
    def __init__(self, *, jobs: JobStore, storage: Storage) -> None:
        self.jobs = jobs
        self.storage = storage

    async def get(self, ctx: RequestContext, job_id: str) -> JobView:
        keys = self.jobs.keys(ctx, job_id)
        return job_view(await self.jobs.load(keys), keys)

    async def page(
        self, ctx: RequestContext, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> JobList:
        """Newest first; `cursor` is the `nextCursor` of the previous page."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidInput("limit", f"between 1 and {MAX_LIST_LIMIT}")
        after = decode_cursor(cursor) if cursor else None
        job_ids = await self._job_ids(ctx, after)
        found: list[JobSummary] = []
        for start in range(0, len(job_ids), _LIST_BATCH):
            batch = job_ids[start : start + _LIST_BATCH]
            summaries = await asyncio.gather(*(self._summary(ctx, j) for j in batch))
            found += [
                s for s in summaries if s is not None and (status is None or s.status == status)
            ]
            if len(found) > limit:
                break
        page = found[:limit]
        next_cursor = encode_cursor(page[-1].job_id) if len(found) > limit else None
        return JobList(jobs=page, next_cursor=next_cursor)

    async def _job_ids(self, ctx: RequestContext, after: str | None) -> list[str]:
        """The tenant's job ids, newest first, older than `after`.

        One folder per job (and `assets`): a delimiter listing, not every artifact's key. A
        folder without a valid manifest is skipped by _summary.
        """
        tenant_prefix = f"{self.jobs.env}/{ctx.tenant_id}/"
        job_ids = sorted(
            (j for j in await self.storage.list_children(tenant_prefix) if NAME_RE.fullmatch(j)),
            reverse=True,  # job ids are time-ordered: newest first
        )
        return job_ids if after is None else [j for j in job_ids if j < after]

    async def _summary(self, ctx: RequestContext, job_id: str) -> JobSummary | None:
        try:
            keys = JobKeys(self.jobs.env, ctx.tenant_id, job_id)
            manifest = await self.jobs.manifests.get(keys)
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
