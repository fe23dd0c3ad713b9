"""Request and response bodies (camelCase on the wire, as the contracts)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from talkavocado_common.models import ErrorInfo, JobOptions, JobStatus
from talkavocado_common.storage import InvalidKey, validate_tenant_id

MIME_RE = re.compile(r"^(video|audio)/[A-Za-z0-9][A-Za-z0-9.+-]{0,126}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class InputMetadata(ApiModel):
    """What the client declares about the recording it will upload."""

    original_filename: str = Field(min_length=1, max_length=255, examples=["talk.mp4"])
    bytes: int = Field(gt=0, description="Exact size of the upload in bytes.")
    mime_type: str = Field(description="video/* or audio/*", examples=["video/mp4"])

    @field_validator("original_filename")
    @classmethod
    def _filename(cls, value: str) -> str:
        if _CONTROL.search(value) or not value.strip():
            raise ValueError("must be a file name without control characters")
        return value

    @field_validator("mime_type")
    @classmethod
    def _mime(cls, value: str) -> str:
        if not MIME_RE.fullmatch(value.strip().lower()):
            raise ValueError("must be a video/* or audio/* media type")
        return value.strip().lower()


class CreateJobRequest(ApiModel):
    tenant_id: str = Field(
        description="Must be the API key's tenant.",
        examples=["demo-tenant"],
        json_schema_extra={"pattern": "^[a-z0-9](?:[a-z0-9-_]{0,62}[a-z0-9])?$"},
    )
    input: InputMetadata
    options: JobOptions | None = None

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        try:
            return validate_tenant_id(value)
        except InvalidKey as exc:
            raise ValueError(str(exc)) from None


class CreateJobResponse(ApiModel):
    job_id: str
    status: Literal["pending"] = "pending"
    env: str
    tenant_id: str
    manifest_key: str
    upload_url: str = Field(description="PUT the recording here (relative unless API_PUBLIC_URL).")


class IdempotencyConflictBody(BaseModel):
    error: str
    detail: str | None = None
    jobId: str  # noqa: N815
    manifestKey: str  # noqa: N815
    correlationId: str | None = None  # noqa: N815


class Artifacts(ApiModel):
    """Storage keys of what the pipeline produced so far."""

    audio: str | None = None
    transcript: str | None = None
    plan: str | None = None
    renders: list[str] = Field(default_factory=list)
    subtitles: list[str] = Field(default_factory=list)


class JobView(ApiModel):
    job_id: str
    tenant_id: str
    status: JobStatus
    artifacts: Artifacts
    manifest_key: str
    updated_at: datetime
    created_at: datetime
    error: ErrorInfo | None = None


class JobSummary(ApiModel):
    job_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    original_filename: str | None = None
    manifest_key: str


class JobList(ApiModel):
    jobs: list[JobSummary]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class UploadedInput(ApiModel):
    key: str
    original_filename: str
    bytes: int
    mime_type: str
    duration_sec: float | None = None
    has_video: bool
    has_audio: bool


class UploadAccepted(ApiModel):
    job_id: str
    tenant_id: str
    status: JobStatus
    manifest_key: str
    input: UploadedInput


class ArtifactLink(ApiModel):
    url: str = Field(description="Where to GET the artifact.")
    direct: bool = Field(
        description="True: a presigned storage URL, no API key needed until expiresAt; "
        "false: the API's own artifact URL (send the API key)."
    )
    expires_at: datetime | None = None
    bytes: int


class CancelRequest(ApiModel):
    reason: str | None = Field(None, max_length=500)


class CommandAccepted(ApiModel):
    job_id: str
    status: JobStatus = Field(description="The job's status now; the change follows on SSE.")
    requested: Literal["cancel", "retry"]


class CheckResults(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    checks: dict[str, str] = Field(default_factory=dict)
