"""Request and response bodies (camelCase on the wire, as the contracts)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from talkavocado_common.models import ErrorInfo, JobOptions, JobStatus
from talkavocado_common.planning.edits import MAX_EDITS as MAX_PLAN_EDITS
from talkavocado_common.storage import InvalidKey, validate_tenant_id

# The contract's patterns: each is declared in the OpenAPI document and is exactly what the API
# accepts (tests/unit/api/test_contract.py checks them against storage/keys.py's validation).
# They avoid look-arounds, so every JSON Schema engine (and pydantic's Rust regex) reads them
# the same way.
TENANT_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"
TENANT_ID_MAX = 64
# A job id: letters, digits, '.', '_' and '-', starting and ending with a letter or digit, no '..'.
JOB_ID_PATTERN = r"^[A-Za-z0-9](?:(?:\.?[A-Za-z0-9_-])*\.?[A-Za-z0-9])?$"
JOB_ID_MAX = 128
# An artifact path below the job: segments that start with a letter, digit or '_' (so never
# '.' or '..'), joined by '/'. A full storage key of the job (as GET /jobs/{id} lists) has the
# same shape.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._ -]{0,254}"
ARTIFACT_PATH_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
ARTIFACT_PATH_MAX = 1024  # an S3 key's limit
# Idempotency-Key: printable ASCII (HTTP drops spaces at either end, so none are there).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
IDEMPOTENCY_KEY_MAX = 255
# video/* or audio/*, either case (stored lower-cased).
MIME_PATTERN = r"^(?:[Vv][Ii][Dd][Ee][Oo]|[Aa][Uu][Dd][Ii][Oo])/[A-Za-z0-9][A-Za-z0-9.+-]{0,126}$"
MIME_RE = re.compile(MIME_PATTERN)
# A file name: no control characters, not only white space.
FILENAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"
FILENAME_RE = re.compile(FILENAME_PATTERN)


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class RequestModel(ApiModel):
    """A request body: JSON types exactly as the schema says (no "5" for 5, no 0 for false).

    JSON Schema counts 5.0 as an integer; pydantic's strict mode does not, so integral numbers
    are made ints first (`json_numbers`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


def json_numbers(value: Any) -> Any:
    """`value` with every integral float (5.0) an int, as JSON Schema reads numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_numbers(v) for v in value]
    return value


class InputMetadata(RequestModel):
    """What the client declares about the recording it will upload."""

    original_filename: str = Field(
        min_length=1,
        max_length=255,
        examples=["talk.mp4"],
        json_schema_extra={"pattern": FILENAME_PATTERN},
    )
    bytes: int = Field(
        gt=0,
        strict=True,
        description="Exact size of the upload in bytes; at most the server's MAX_UPLOAD_BYTES.",
    )
    mime_type: str = Field(
        description="video/* or audio/*",
        examples=["video/mp4"],
        json_schema_extra={"pattern": MIME_PATTERN},
    )

    @field_validator("bytes", mode="before")
    @classmethod
    def _integral(cls, value: Any) -> Any:
        return json_numbers(value)

    @field_validator("original_filename")
    @classmethod
    def _filename(cls, value: str) -> str:
        if not FILENAME_RE.fullmatch(value):
            raise ValueError("must be a file name without control characters")
        return value

    @field_validator("mime_type")
    @classmethod
    def _mime(cls, value: str) -> str:
        if not MIME_RE.fullmatch(value):
            raise ValueError("must be a video/* or audio/* media type")
        return value.lower()


class CreateJobRequest(RequestModel):
    tenant_id: str = Field(
        description="Must be the API key's tenant.",
        examples=["demo-tenant"],
        min_length=1,
        max_length=TENANT_ID_MAX,
        json_schema_extra={"pattern": TENANT_ID_PATTERN},
    )
    input: InputMetadata
    options: JobOptions | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _strict_options(cls, value: Any) -> Any:
        """The shared JobOptions model is lax; a request's options are checked strictly."""
        if value is None or isinstance(value, JobOptions):
            return value
        return JobOptions.model_validate(json_numbers(value), strict=True)

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
    exports: list[str] = Field(
        default_factory=list,
        description="The edit as timelines for editing programs: exports/timeline.otio "
        "(OpenTimelineIO), .fcpxml (Final Cut Pro X, Resolve), .xml (FCP7 XML: Premiere, "
        "Resolve, Kdenlive), .edl (CMX 3600).",
    )


class InputView(ApiModel):
    key: str
    original_filename: str
    bytes: int


class RevisionView(ApiModel):
    """One render of the edit: 1 the automatic edit, 2 and up a review's re-renders."""

    revision: int
    status: Literal["completed", "rendering", "failed"]
    render: str | None = Field(description="The final video's key, once rendered.")
    duration_sec: float | None = None
    subtitles: list[str] = Field(default_factory=list)
    exports: list[str] = Field(
        default_factory=list, description="This render's timeline exports (see Artifacts)."
    )
    requested_at: datetime | None = None


class JobView(ApiModel):
    job_id: str
    tenant_id: str
    status: JobStatus
    artifacts: Artifacts
    manifest_key: str
    updated_at: datetime
    created_at: datetime
    error: ErrorInfo | None = None
    input: InputView | None = None
    revisions: list[RevisionView] = Field(
        default_factory=list, description="Every render of the edit, the newest first."
    )


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
        description="True: no API key needed until expiresAt (a presigned storage URL, or "
        "the API's artifact URL with a signature); false: send the API key."
    )
    expires_at: datetime | None = None
    bytes: int


class CancelRequest(RequestModel):
    reason: str | None = Field(None, max_length=500)


class CommandAccepted(ApiModel):
    job_id: str
    status: JobStatus = Field(description="The job's status now; the change follows on SSE.")
    requested: Literal["cancel", "retry"]


class CheckResults(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    checks: dict[str, str] = Field(default_factory=dict)


# ---- the review loop (usecases/review.py) ---------------------------------------------------


class PlanEditItem(RequestModel):
    """Keep or cut one stretch of the source, whatever the plan decided there."""

    start: float = Field(ge=0, description="Seconds into the source recording.")
    end: float = Field(gt=0, description="Seconds into the source recording (exclusive).")
    action: Literal["keep", "cut"]

    @field_validator("start", "end", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PlannerOverrides(RequestModel):
    target_pause_ms: int = Field(
        ge=0, le=5000, description="Shorten long pauses to this (the job's option otherwise)."
    )


class PlanEditRequest(RequestModel):
    edits: list[PlanEditItem] = Field(
        max_length=MAX_PLAN_EDITS,
        description="Applied in order over the automatic plan; later edits win where they "
        "overlap. The whole list each time: it replaces the stored one.",
    )
    planner: PlannerOverrides | None = Field(
        None, description="Re-plan with another pause target before the edits are applied."
    )

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, value: Any) -> Any:
        return json_numbers(value)  # 400.0 is an integer to JSON Schema


class PlanRegionView(ApiModel):
    start: float
    end: float
    action: Literal["keep", "cut"]
    reason: str = Field(description="speech, pause, filler, unworded-sound, …, or edited.")
    text: str | None = None


class PlanWordView(ApiModel):
    start: float
    end: float
    word: str
    action: Literal["keep", "cut"]


class PlanStatsView(ApiModel):
    source_duration_sec: float
    kept_duration_sec: float
    removed_duration_sec: float
    cuts_by_reason: dict[str, int]
    removed_sec_by_reason: dict[str, float]


class PlanView(ApiModel):
    job_id: str
    revision: int | None = Field(
        description="The revision rendered from exactly this plan (1: the automatic edit); "
        "null when it was edited since the last render."
    )
    next_revision: int = Field(description="The number a render of this plan would get.")
    duration_sec: float
    pause_target_ms: int
    edits: list[PlanEditItem]
    regions: list[PlanRegionView]
    words: list[PlanWordView]
    stats: PlanStatsView


class RenderAccepted(ApiModel):
    job_id: str
    revision: int
    status: JobStatus = Field(description="The job's status now; the render follows on SSE.")


class SessionView(ApiModel):
    tenant_id: str
    key_id: str = Field(description="A short, loggable id of the API key (not the key).")
