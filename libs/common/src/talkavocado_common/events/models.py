"""Event payloads on Kafka (docs/architecture.md §3), one model per CloudEvents `type`.

Schemas in contracts/events/<type>.schema.json are generated from these models; the envelope is
CloudEvents 1.0 in JSON structured mode (envelope.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..models import ContractModel, ErrorCode, InputInfo, JobOptions, JobStatus


class JobRef(ContractModel):
    """Which job an event is about; every payload carries it (the Kafka key is job_id)."""

    job_id: str
    tenant_id: str
    env: str


class JobSubmitted(JobRef):
    options: JobOptions = Field(default_factory=JobOptions)
    input: InputInfo
    manifest_key: str


class JobCancelRequested(JobRef):
    reason: str | None = None


class JobResumeRequested(JobRef):
    """The reconciler found an active job in storage that may have lost its orchestrator row
    (a restarted embedded stack, a lost changelog): what the manifest says, for the agent that
    owns the job to resume it from its first unfinished step. A live row ignores it."""

    manifest_key: str
    options: JobOptions = Field(default_factory=JobOptions)
    status: JobStatus = Field(description="The manifest's status when the reconciler read it.")
    succeeded: list[str] = Field(
        default_factory=list, description="Steps whose manifest record says succeeded."
    )
    attempts: dict[str, int] = Field(
        default_factory=dict, description="Step runs the manifest records per step."
    )
    reason: str = ""
    revision: int | None = Field(
        None,
        ge=2,
        description="The review revision the job was rendering (the revision document resumes, "
        "`succeeded` counting only that revision's steps); null: the edit.",
    )


class JobRetryRequested(JobRef):
    """Re-run a failed job from the step that failed. `resume` is what the manifest says about
    its steps (as the reconciler sends it), so the job resumes even when the orchestrator no
    longer has its row: the row's retention ended, or the embedded stack was restarted."""

    resume: JobResumeRequested | None = Field(
        None, description="The manifest's record of the job's steps when the retry was asked."
    )


class JobRenderRequested(JobRef):
    """Render a review revision: the API has written the adjusted cut plan of `revision` under
    the job's revisions/<revision>/ and asks for the revision pipeline (contracts/
    revision.asl.json) to run from video-cuts on. Ignored while the job runs and for a revision
    not newer than the row's."""

    revision: int = Field(ge=2, description="1 is the automatic edit; reviews count from 2.")
    manifest_key: str
    options: JobOptions = Field(default_factory=JobOptions)
    attempts: dict[str, int] = Field(
        default_factory=dict,
        description="Step runs the manifest records per step: a revision's runs are numbered "
        "after them even when the orchestrator no longer has the job's row.",
    )


class StepRequested(JobRef):
    step_run_id: str = Field(
        description="jobId/state/attempt: the one result the orchestrator waits for."
    )
    state: str
    service: str
    step: str
    attempt: int = Field(ge=1)
    input: dict[str, Any] = Field(description="The state input: the job context so far.")
    deadline: datetime = Field(description="The step's TimeoutSeconds from when it was requested.")
    heartbeat_seconds: float | None = Field(None, gt=0)


class StepHeartbeat(JobRef):
    step_run_id: str
    state: str
    progress: float = Field(ge=0, le=1)
    message: str = ""
    run: str | None = Field(
        None,
        max_length=100,
        description="Token of the execution beating, new each time a worker starts the step "
        "run: the first beat with a new token says a worker started it (again).",
    )


class StepSucceeded(JobRef):
    step_run_id: str
    state: str
    result: dict[str, Any]
    duration_sec: float = Field(ge=0)


class StepError(ContractModel):
    code: ErrorCode
    message: str


class StepFailed(JobRef):
    step_run_id: str
    state: str
    error: StepError
    duration_sec: float = Field(ge=0)


class JobStatusChanged(JobRef):
    status: JobStatus
    state: str | None = Field(None, description="The state the job is in (or ended in).")
    progress: float = Field(ge=0, le=1, description="Share of the pipeline's steps done.")
    attempt: int | None = Field(None, ge=1)
    message: str = ""
    error: StepError | None = None
    revision: int | None = Field(
        None, ge=2, description="The review revision being rendered; null for the first edit."
    )


class DeadLetter(ContractModel):
    """What the dlq topic holds: a message that could not be decoded or validated, and why."""

    reason: str
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None
    payload: str = Field(description="The original value: UTF-8 text, or base64 when not text.")
    payload_encoding: Literal["utf-8", "base64"]
    consumer: str = Field(description="The consumer group that refused it.")


EVENT_TYPES: dict[str, type[ContractModel]] = {
    "job.submitted": JobSubmitted,
    "job.cancel-requested": JobCancelRequested,
    "job.retry-requested": JobRetryRequested,
    "job.resume-requested": JobResumeRequested,
    "job.render-requested": JobRenderRequested,
    "step.requested": StepRequested,
    "step.heartbeat": StepHeartbeat,
    "step.succeeded": StepSucceeded,
    "step.failed": StepFailed,
    "job.status-changed": JobStatusChanged,
    "dlq.dead-letter": DeadLetter,
}
