"""Review the cut: the plan as the review app shows it, a person's keep/cut edits over it (and
another pause target), and a render of the adjusted plan as a new revision.

The edits live in the job's `plan/edits.json` with the plan they give (so reading it needs no
re-planning); a render writes that plan as `revisions/<n>/plan/cut_plan.json`, adds the
revision to the manifest and asks the orchestrator for the revision pipeline
(contracts/revision.asl.json), which runs from video-cuts on with the revision's keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import Field, ValidationError

from talkavocado_common.active_jobs import ActiveJobs
from talkavocado_common.events import JobRenderRequested
from talkavocado_common.manifest_changes import RequestRevision
from talkavocado_common.models import (
    AudioAnalysis,
    ContractModel,
    CutPlan,
    JobStatus,
    Manifest,
    PlannerOptions,
    Revision,
    Transcript,
)
from talkavocado_common.planning.edits import EditError, PlanEdit, apply_edits
from talkavocado_common.planning.planner import plan_cuts
from talkavocado_common.storage import JobKeys, NotFound, Storage

from ..schemas import (
    PlanEditItem,
    PlanEditRequest,
    PlanRegionView,
    PlanStatsView,
    PlanView,
    PlanWordView,
    RenderAccepted,
)
from .common import JobCommands, JobStore, RequestContext, utcnow
from .errors import Conflict, InvalidInput

_BUSY = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})
M = TypeVar("M", bound=ContractModel)


class StoredEdits(ContractModel):
    """plan/edits.json: the review's edits and the plan they give."""

    edits: list[PlanEdit] = Field(default_factory=list)
    target_pause_ms: int | None = None
    plan: CutPlan
    rendered_as: int | None = Field(None, description="The revision rendered from this plan.")
    updated_at: datetime


class Review:
    def __init__(self, *, jobs: JobStore, commands: JobCommands, storage: Storage) -> None:
        self.jobs = jobs
        self.commands = commands
        self.storage = storage

    async def plan(self, ctx: RequestContext, job_id: str) -> PlanView:
        keys = self.jobs.keys(ctx, job_id)
        manifest = await self.jobs.load(keys)
        automatic = await self._automatic(keys, manifest)
        stored = await self._stored(keys)
        return _view(manifest, automatic, stored)

    async def edit(self, ctx: RequestContext, job_id: str, request: PlanEditRequest) -> PlanView:
        """Replace the edits (and the pause target); 400 on an edit that cannot apply."""
        keys = self.jobs.keys(ctx, job_id)
        manifest = await self.jobs.load(keys)
        base = await self._automatic(keys, manifest)
        target = request.planner.target_pause_ms if request.planner is not None else None
        if target is not None and target != manifest.options.planner.target_pause_ms:
            base = await self._replanned(keys, manifest, target)
        edits = [PlanEdit(start=e.start, end=e.end, action=e.action) for e in request.edits]
        try:
            plan = apply_edits(base, edits)
        except EditError as exc:
            raise InvalidInput("edits", str(exc)) from None
        stored = StoredEdits(
            edits=edits, target_pause_ms=target, plan=plan, rendered_as=None, updated_at=utcnow()
        )
        await self.storage.write_bytes(keys.plan_edits, stored.to_json_bytes())
        return _view(manifest, base, stored)

    async def render(self, ctx: RequestContext, job_id: str) -> RenderAccepted:
        """A new revision of the adjusted plan (the automatic one when nothing was edited)."""
        keys = self.jobs.keys(ctx, job_id)
        manifest = await self.jobs.load(keys)
        if manifest.status in _BUSY or manifest.status is JobStatus.CANCELLED:
            raise Conflict(
                f"the job is {manifest.status.value}; a revision can be rendered once it has "
                "ended (completed or failed), not cancelled",
                status=manifest.status,
            )
        automatic = await self._automatic(keys, manifest)
        stored = await self._stored(keys)
        plan = stored.plan if stored is not None else automatic
        revision = _next_revision(manifest)
        revision_keys = keys.for_revision(revision)
        await self.storage.write_bytes(revision_keys.cut_plan, plan.to_json_bytes())
        entry = Revision(
            revision=revision,
            requested_at=utcnow(),
            edits=len(stored.edits) if stored is not None else 0,
            cut_plan=revision_keys.cut_plan,
        )
        await self.jobs.manifests.update(keys, RequestRevision(entry))
        if stored is not None:
            rendered = stored.model_copy(update={"rendered_as": revision})
            await self.storage.write_bytes(keys.plan_edits, rendered.to_json_bytes())
        # Indexed before it becomes active again, like a retry (talkavocado_common.active_jobs).
        await ActiveJobs(self.storage, keys.env).add(keys)
        request = JobRenderRequested(
            job_id=keys.job_id,
            tenant_id=keys.tenant_id,
            env=keys.env,
            revision=revision,
            manifest_key=keys.manifest,
            options=manifest.options,
            attempts={name: record.attempts for name, record in manifest.steps.items()},
        )
        await self.commands.send(ctx, "job.render-requested", request)
        return RenderAccepted(job_id=keys.job_id, revision=revision, status=manifest.status)

    # ---- reading ---------------------------------------------------------------------------

    async def _automatic(self, keys: JobKeys, manifest: Manifest) -> CutPlan:
        if manifest.plan.cut_plan is None:
            raise Conflict(
                "the job has no cut plan yet; it is made after transcription",
                status=manifest.status,
            )
        return await self._read(keys.cut_plan, CutPlan, "the cut plan")

    async def _stored(self, keys: JobKeys) -> StoredEdits | None:
        try:
            data, _ = await self.storage.read_bytes(keys.plan_edits)
        except NotFound:
            return None
        return StoredEdits.model_validate_json(data)

    async def _replanned(self, keys: JobKeys, manifest: Manifest, target_ms: int) -> CutPlan:
        """The automatic plan again with another pause target (pure: planning.planner)."""
        try:
            options = manifest.options.planner.model_copy(update={"target_pause_ms": target_ms})
            options = PlannerOptions.model_validate(options.model_dump())
        except ValidationError as exc:
            raise InvalidInput("planner.targetPauseMs", _first_error(exc)) from None
        transcript = await self._read(keys.transcript_json, Transcript, "the transcript")
        analysis = await self._read(keys.audio_analysis, AudioAnalysis, "the audio analysis")
        return plan_cuts(transcript, analysis, options)

    async def _read(self, key: str, model: type[M], what: str) -> M:
        try:
            data, _ = await self.storage.read_bytes(key)
        except NotFound:
            raise Conflict(f"{what} of this job is missing") from None
        return model.model_validate_json(data)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return str(error.get("msg", "invalid"))


def _next_revision(manifest: Manifest) -> int:
    return max((r.revision for r in manifest.revisions), default=1) + 1


def _view(manifest: Manifest, automatic: CutPlan, stored: StoredEdits | None) -> PlanView:
    plan = stored.plan if stored is not None else automatic
    if stored is None:
        revision: int | None = 1  # the automatic plan is what the first edit rendered
    else:
        revision = stored.rendered_as
    target = manifest.options.planner.target_pause_ms
    if stored is not None and stored.target_pause_ms is not None:
        target = stored.target_pause_ms
    removed: dict[str, float] = {}
    for region in plan.regions:
        if region.action == "cut":
            removed[region.reason] = removed.get(region.reason, 0.0) + region.end - region.start
    return PlanView(
        job_id=manifest.job_id,
        revision=revision,
        next_revision=_next_revision(manifest),
        duration_sec=plan.duration_sec,
        pause_target_ms=target,
        edits=[
            PlanEditItem(start=e.start, end=e.end, action=e.action)
            for e in (stored.edits if stored is not None else [])
        ],
        regions=[
            PlanRegionView(start=r.start, end=r.end, action=r.action, reason=r.reason, text=r.text)
            for r in plan.regions
        ],
        words=[
            PlanWordView(start=w.start, end=w.end, word=w.word, action=w.action)
            for w in plan.words or []
        ],
        stats=PlanStatsView(
            source_duration_sec=plan.stats.source_duration_sec,
            kept_duration_sec=plan.stats.kept_duration_sec,
            removed_duration_sec=plan.stats.removed_duration_sec,
            cuts_by_reason=plan.stats.cuts_by_reason,
            removed_sec_by_reason={k: round(v, 3) for k, v in sorted(removed.items())},
        ),
    )
