"""/jobs: thin routes over the use cases (auth and tenant scope come from dependencies); the
use cases' errors become responses in ..errors, their status items SSE frames in .sse."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from talkavocado_common.models import JobStatus

from ..context import job_id_var
from ..deps import (
    ArtifactContextDep,
    ArtifactDownloadsDep,
    CreateJobDep,
    JobControlDep,
    LinkSignerDep,
    PrincipalDep,
    ReadJobsDep,
    SettingsDep,
    StatusStreamDep,
    TenantContextDep,
    UploadInputDep,
    context_for,
)
from ..errors import ErrorBody, Forbidden, InvalidRequest
from ..schemas import (
    ARTIFACT_PATH_MAX,
    ARTIFACT_PATH_PATTERN,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    JOB_ID_MAX,
    JOB_ID_PATTERN,
    ArtifactLink,
    CancelRequest,
    CommandAccepted,
    CreateJobRequest,
    CreateJobResponse,
    IdempotencyConflictBody,
    JobList,
    JobView,
    UploadAccepted,
)
from ..usecases.read import MAX_LIST_LIMIT
from .sse import sse_frames

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobIdPath = Annotated[
    str,
    Path(
        alias="jobId",
        description="The job id returned at creation. A malformed id is a 400, an unknown one "
        "(or another tenant's) a 404.",
        min_length=1,
        max_length=JOB_ID_MAX,
        pattern=JOB_ID_PATTERN,
    ),
]
ArtifactPath = Annotated[
    str,
    Path(
        description="Path under the job, e.g. renders/final.mp4 (or the full storage key that "
        "GET /jobs/{jobId} lists).",
        min_length=1,
        max_length=ARTIFACT_PATH_MAX,
        pattern=ARTIFACT_PATH_PATTERN,
    ),
]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Invalid request (JSON error body).",
        401: "Missing or invalid API key.",
        403: "The body's tenantId is not the API key's tenant.",
        404: "Unknown job, or a job of another tenant (the same answer).",
        409: "Conflict with the job's current state.",
        413: "The upload is larger than declared or than the configured maximum.",
        416: "The requested range lies outside the artifact.",
        422: "The upload is not a usable recording; the manifest records why.",
        429: "Too many requests: too many failed authentications from this client, or an "
        "admission limit; `Retry-After` says when to try again.",
        503: "A dependency (broker, ffprobe) is unavailable; nothing was changed.",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in codes}


def _job_url(settings_public_url: str | None, path: str) -> str:
    return f"{settings_public_url.rstrip('/')}{path}" if settings_public_url else path


@router.post(
    "",
    status_code=201,
    operation_id="createJob",
    summary="Create a job and get the URL to upload its recording to",
    response_model=CreateJobResponse,
    responses={
        **_errors(400, 401, 403),
        409: {
            "model": IdempotencyConflictBody,
            "description": "The Idempotency-Key was used before: the first job's id.",
        },
    },
)
async def create_job(
    body: CreateJobRequest,
    principal: PrincipalDep,
    create: CreateJobDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Repeating a key returns 409 with the first job instead of a new job.",
            max_length=IDEMPOTENCY_KEY_MAX,
            pattern=IDEMPOTENCY_KEY_PATTERN,
        ),
    ] = None,
) -> CreateJobResponse:
    if body.tenant_id != principal.tenant_id:
        raise Forbidden("tenantId is not the tenant of this API key")
    ctx = context_for(principal)
    keys = await create(ctx, body, idempotency_key)
    job_id_var.set(keys.job_id)
    tenant = quote(keys.tenant_id)
    response.headers["Location"] = f"/jobs/{keys.job_id}?tenantId={tenant}"
    return CreateJobResponse(
        job_id=keys.job_id,
        env=keys.env,
        tenant_id=keys.tenant_id,
        manifest_key=keys.manifest,
        upload_url=_job_url(settings.public_url, f"/jobs/{keys.job_id}/input?tenantId={tenant}"),
    )


@router.get(
    "",
    operation_id="listJobs",
    summary="List the tenant's jobs, newest first",
    response_model=JobList,
    responses=_errors(400, 401, 404),
)
async def list_jobs(
    ctx: TenantContextDep,
    read: ReadJobsDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT, description="Page size.")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            description="`nextCursor` of the previous page (jobs older than that job id).",
            max_length=JOB_ID_MAX,
            pattern=JOB_ID_PATTERN,
        ),
    ] = None,
) -> JobList:
    return await read.page(ctx, status=status, limit=limit, cursor=cursor)


@router.get(
    "/{jobId}",
    operation_id="getJob",
    summary="A job's status and artifacts",
    response_model=JobView,
    responses=_errors(400, 401, 404),
)
async def get_job(job_id: JobIdPath, ctx: TenantContextDep, read: ReadJobsDep) -> JobView:
    return await read.get(ctx, job_id)


@router.put(
    "/{jobId}/input",
    status_code=202,
    operation_id="uploadJobInput",
    summary="Upload the recording (raw bytes, streamed); the job is submitted when it checks out",
    response_model=UploadAccepted,
    responses=_errors(400, 401, 404, 409, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_input(
    job_id: JobIdPath, request: Request, ctx: TenantContextDep, upload: UploadInputDep
) -> UploadAccepted:
    raw_length = request.headers.get("content-length")
    try:
        content_length = int(raw_length) if raw_length is not None else None
    except ValueError:
        raise InvalidRequest("Content-Length: not a number") from None
    return await upload(ctx, job_id, request.stream(), content_length=content_length)


@router.get(
    "/{jobId}/artifacts/{path:path}",
    operation_id="getJobArtifact",
    summary="Download an artifact of the job (HTTP Range supported)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The whole artifact.", "content": {"application/octet-stream": {}}},
        206: {
            "description": "The requested byte range.",
            "content": {"application/octet-stream": {}},
        },
        **_errors(400, 401, 404, 416),
    },
)
async def get_artifact(
    job_id: JobIdPath,
    path: ArtifactPath,
    ctx: ArtifactContextDep,
    artifacts: ArtifactDownloadsDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    download = await artifacts.open(ctx, job_id, path, range_header=range_header, if_range=if_range)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{download.etag}"',
        "Cache-Control": "private, no-cache",
    }
    if download.byte_range is None:
        headers["Content-Length"] = str(download.size)
        status = 200
    else:
        headers["Content-Length"] = str(download.byte_range.length)
        headers["Content-Range"] = download.byte_range.content_range(download.size)
        status = 206
    return StreamingResponse(
        download.body, status_code=status, media_type=download.content_type, headers=headers
    )


@router.get(
    "/{jobId}/links/{path:path}",
    operation_id="getJobArtifactLink",
    summary="A download link that needs no API key until it expires: presigned on S3, signed "
    "by the API otherwise",
    response_model=ArtifactLink,
    responses=_errors(400, 401, 404),
)
async def get_artifact_link(
    job_id: JobIdPath,
    path: ArtifactPath,
    ctx: TenantContextDep,
    artifacts: ArtifactDownloadsDep,
    settings: SettingsDep,
    signer: LinkSignerDep,
) -> ArtifactLink:
    artifact = f"/jobs/{quote(job_id)}/artifacts/{quote(path)}?tenantId={quote(ctx.tenant_id)}"
    api_url = _job_url(settings.public_url, artifact)
    return await artifacts.link(ctx, job_id, path, api_url=api_url, signer=signer)


@router.post(
    "/{jobId}/cancel",
    status_code=202,
    operation_id="cancelJob",
    summary="Ask for the job to stop (200 when it had not reached the pipeline yet)",
    response_model=CommandAccepted,
    responses={200: {"model": CommandAccepted}, **_errors(400, 401, 404, 409, 503)},
)
async def cancel_job(
    job_id: JobIdPath,
    ctx: TenantContextDep,
    control: JobControlDep,
    response: Response,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> CommandAccepted:
    status = await control.cancel(ctx, job_id, body.reason if body else None)
    if status == JobStatus.CANCELLED:
        response.status_code = 200
    return CommandAccepted(job_id=job_id, status=status, requested="cancel")


@router.post(
    "/{jobId}/retry",
    status_code=202,
    operation_id="retryJob",
    summary="Re-run a failed job from the step that failed",
    response_model=CommandAccepted,
    responses=_errors(400, 401, 404, 409, 503),
)
async def retry_job(
    job_id: JobIdPath, ctx: TenantContextDep, control: JobControlDep
) -> CommandAccepted:
    status = await control.retry(ctx, job_id)
    return CommandAccepted(job_id=job_id, status=status, requested="retry")


@router.get(
    "/{jobId}/events",
    operation_id="streamJobEvents",
    summary="Server-Sent Events of the job's status changes (current status first)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: job.status-changed` frames, `data:` a CloudEvent; "
            "ends after a terminal status. Comment lines keep the connection alive.",
            "content": {"text/event-stream": {}},
        },
        **_errors(400, 401, 404),
    },
)
async def stream_events(
    job_id: JobIdPath, ctx: TenantContextDep, stream: StatusStreamDep
) -> StreamingResponse:
    items = await stream.open(ctx, job_id)
    return StreamingResponse(
        sse_frames(items),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
