"""Annotated dependencies: settings, the use cases, the authenticated caller and its tenant
scope."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from talkavocado_common.storage import InvalidKey, validate_tenant_id

from .auth import ApiKeyRing, Principal
from .auth_throttle import FailedAuthThrottle
from .context import current_correlation_id, job_id_var, tenant_id_var, traceparent_var
from .errors import InvalidRequest, NotFound, TooManyRequests, Unauthorized
from .metrics import ApiMetrics
from .schemas import JOB_ID_MAX, JOB_ID_PATTERN, TENANT_ID_MAX, TENANT_ID_PATTERN
from .settings import ApiSettings
from .signed_links import LinkSigner
from .usecases import UseCases
from .usecases.artifacts import ArtifactDownloads
from .usecases.common import RequestContext
from .usecases.control import JobControl
from .usecases.create import CreateJob
from .usecases.errors import JobNotFound, WebhookNotFound
from .usecases.read import ReadJobs
from .usecases.review import Review
from .usecases.stream import StatusStream
from .usecases.upload import UploadInput
from .usecases.webhooks import Webhooks
from .webhook_schemas import WEBHOOK_ID_MAX, WEBHOOK_ID_PATTERN

_JOB_ID_RE = re.compile(JOB_ID_PATTERN)
_WEBHOOK_ID_RE = re.compile(WEBHOOK_ID_PATTERN)

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <API key>`; each key belongs to one tenant.",
)


def client_address(request: Request) -> str:
    """Who is asking, for the throttle: the peer address the ASGI server reports."""
    return request.client.host if request.client is not None else "unknown"


def authenticate_request(request: Request) -> Principal:
    """The caller's principal from `Authorization: Bearer <key>`; 401 otherwise, 429 (without
    checking the key) for a client that sent too many wrong keys lately."""
    throttle: FailedAuthThrottle | None = getattr(request.app.state, "auth_throttle", None)
    client = client_address(request)
    now: float = request.app.state.auth_clock() if throttle is not None else 0.0
    if throttle is not None and (blocked := throttle.blocked(client, now)) is not None:
        raise TooManyRequests(
            "too many failed authentications from this client; "
            f"try again in {blocked.retry_after} s",
            blocked.retry_after,
        )
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("malformed Authorization header: expected Bearer <key>")
    keyring: ApiKeyRing = request.app.state.keyring
    principal = keyring.authenticate(key.strip())
    if principal is None:
        if throttle is not None:
            throttle.record_failure(client, now)
        raise Unauthorized("invalid API key")
    return principal


# The dependencies are coroutines, even those that only read app.state: FastAPI runs a plain
# function dependency in the thread pool, a hand-off to a thread and back for every request.


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _use_cases(request: Request) -> UseCases:
    use_cases: UseCases = request.app.state.use_cases
    return use_cases


async def get_create_job(request: Request) -> CreateJob:
    return _use_cases(request).create


async def get_upload_input(request: Request) -> UploadInput:
    return _use_cases(request).upload


async def get_read_jobs(request: Request) -> ReadJobs:
    return _use_cases(request).read


async def get_artifact_downloads(request: Request) -> ArtifactDownloads:
    return _use_cases(request).artifacts


async def get_job_control(request: Request) -> JobControl:
    return _use_cases(request).control


async def get_status_stream(request: Request) -> StatusStream:
    return _use_cases(request).stream


async def get_review(request: Request) -> Review:
    return _use_cases(request).review


async def get_webhooks(request: Request) -> Webhooks:
    return _use_cases(request).webhooks


async def get_link_signer(request: Request) -> LinkSigner:
    signer: LinkSigner = request.app.state.link_signer
    return signer


async def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    principal = authenticate_request(request)
    tenant_id_var.set(principal.tenant_id)
    return principal


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
CreateJobDep = Annotated[CreateJob, Depends(get_create_job)]
UploadInputDep = Annotated[UploadInput, Depends(get_upload_input)]
ReadJobsDep = Annotated[ReadJobs, Depends(get_read_jobs)]
ArtifactDownloadsDep = Annotated[ArtifactDownloads, Depends(get_artifact_downloads)]
JobControlDep = Annotated[JobControl, Depends(get_job_control)]
StatusStreamDep = Annotated[StatusStream, Depends(get_status_stream)]
ReviewDep = Annotated[Review, Depends(get_review)]
WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]
LinkSignerDep = Annotated[LinkSigner, Depends(get_link_signer)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def context_for(principal: Principal) -> RequestContext:
    return RequestContext(
        tenant_id=principal.tenant_id,
        correlation_id=current_correlation_id(),
        traceparent=traceparent_var.get(),
    )


def check_tenant_format(tenant_id: str) -> str:
    try:
        return validate_tenant_id(tenant_id)
    except InvalidKey as exc:
        raise InvalidRequest(f"tenantId: {exc}") from None


def check_job_id_format(job_id: str) -> str:
    if len(job_id) > JOB_ID_MAX or not _JOB_ID_RE.fullmatch(job_id):
        raise InvalidRequest(f"jobId: {job_id!r} is not a job id")
    return job_id


def check_webhook_id_format(webhook_id: str) -> str:
    if len(webhook_id) > WEBHOOK_ID_MAX or not _WEBHOOK_ID_RE.fullmatch(webhook_id):
        raise InvalidRequest(f"webhookId: {webhook_id!r} is not a webhook id")
    return webhook_id


async def get_tenant_context(
    request: Request,
    principal: PrincipalDep,
    tenant_id: Annotated[
        str,
        Query(
            alias="tenantId",
            description="The tenant that owns the job; must be the API key's tenant.",
            examples=["demo-tenant"],
            min_length=1,
            max_length=TENANT_ID_MAX,
            pattern=TENANT_ID_PATTERN,
        ),
    ],
) -> RequestContext:
    """Scope a request to the caller's tenant. Another tenant's id gets exactly the 404 of a
    job that does not exist; nothing of that tenant is ever read."""
    return _scoped(request, principal, tenant_id)


def _scoped(request: Request, principal: Principal, tenant_id: str) -> RequestContext:
    check_tenant_format(tenant_id)
    job_id = request.path_params.get("jobId")
    if job_id is not None:
        check_job_id_format(job_id)  # before the tenant: malformed is 400 whoever asks
        job_id_var.set(job_id)
    webhook_id = request.path_params.get("webhookId")
    if webhook_id is not None:
        check_webhook_id_format(webhook_id)
    if tenant_id != principal.tenant_id:
        if job_id is not None:
            raise JobNotFound(job_id)
        if webhook_id is not None:
            raise WebhookNotFound(webhook_id)
        raise NotFound(f"tenant {tenant_id!r} not found")
    return context_for(principal)


TenantContextDep = Annotated[RequestContext, Depends(get_tenant_context)]

SIGNATURE_PATTERN = r"^[0-9a-f]{64}$"


async def get_artifact_context(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    tenant_id: Annotated[
        str,
        Query(
            alias="tenantId",
            description="The tenant that owns the job; must be the API key's tenant.",
            min_length=1,
            max_length=TENANT_ID_MAX,
            pattern=TENANT_ID_PATTERN,
        ),
    ],
    expires: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**40,
            description="A signed link's expiry (Unix seconds), as GET /jobs/{jobId}/links/… "
            "gives it; with `signature`, no API key is needed.",
        ),
    ] = None,
    signature: Annotated[
        str | None,
        Query(
            min_length=64,
            max_length=64,
            pattern=SIGNATURE_PATTERN,
            description="A signed link's signature (with `expires`).",
        ),
    ] = None,
) -> RequestContext:
    """An artifact request: the API key as on every route, or a signed link's signature for
    exactly this tenant, job and path (signed_links.py), which a <video> element can follow."""
    if expires is None or signature is None:  # not a signed link: the API key decides
        principal = authenticate_request(request)
        tenant_id_var.set(principal.tenant_id)  # as get_principal does, for the logs
        return _scoped(request, principal, tenant_id)
    check_tenant_format(tenant_id)
    job_id = check_job_id_format(request.path_params.get("jobId", ""))
    job_id_var.set(job_id)
    signer: LinkSigner = request.app.state.link_signer
    now: float = request.app.state.link_clock()
    path = request.path_params.get("path", "")
    if not signer.valid(tenant_id, job_id, path, expires, signature, now):
        raise Unauthorized("the link is invalid or has expired; ask for a new one")
    tenant_id_var.set(tenant_id)
    return RequestContext(
        tenant_id=tenant_id,
        correlation_id=current_correlation_id(),
        traceparent=traceparent_var.get(),
    )


ArtifactContextDep = Annotated[RequestContext, Depends(get_artifact_context)]
