"""Review the cut (usecases/review.py): the plan as the review app shows it, a person's edits
over it, and a render of the adjusted plan as a new revision; and who the caller is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from ..deps import PrincipalDep, ReviewDep, TenantContextDep
from ..schemas import PlanEditRequest, PlanView, RenderAccepted, SessionView
from .jobs import JobIdPath, _errors

router = APIRouter(prefix="/jobs", tags=["review"])
session_router = APIRouter(tags=["review"])


@router.get(
    "/{jobId}/plan",
    operation_id="getJobPlan",
    summary="The cut plan to review: regions, words kept or cut, statistics, the edits so far",
    response_model=PlanView,
    responses=_errors(400, 401, 404, 409),
)
async def get_plan(job_id: JobIdPath, ctx: TenantContextDep, review: ReviewDep) -> PlanView:
    return await review.plan(ctx, job_id)


@router.put(
    "/{jobId}/plan",
    operation_id="editJobPlan",
    summary="Replace the review's edits (keep/cut stretches of the source, later ones winning)",
    response_model=PlanView,
    responses=_errors(400, 401, 404, 409),
)
async def edit_plan(
    job_id: JobIdPath,
    ctx: TenantContextDep,
    review: ReviewDep,
    body: Annotated[PlanEditRequest, Body()],
) -> PlanView:
    return await review.edit(ctx, job_id, body)


@router.post(
    "/{jobId}/render",
    status_code=202,
    operation_id="renderJobRevision",
    summary="Render the adjusted plan as a new revision (progress on the job's events)",
    response_model=RenderAccepted,
    responses=_errors(400, 401, 404, 409, 503),
)
async def render_revision(
    job_id: JobIdPath, ctx: TenantContextDep, review: ReviewDep
) -> RenderAccepted:
    return await review.render(ctx, job_id)


@session_router.get(
    "/session",
    operation_id="getSession",
    summary="The tenant the API key belongs to (the review app signs in with it)",
    response_model=SessionView,
    responses=_errors(401),
)
async def get_session(principal: PrincipalDep) -> SessionView:
    return SessionView(tenant_id=principal.tenant_id, key_id=principal.key_id)
