"""The orchestrator's per-job row: everything the transition function needs, as plain JSON.

One `JobRow` per job lives in the Faust table `job-state`, whose changelog is a Kafka topic, so
the row must survive `to_json_bytes` → `from_json_bytes` unchanged and hold nothing that is not
JSON (no callables, no clocks, no RNG objects: jitter is drawn from `seed`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from talkavocado_common.models import ErrorInfo, JobStatus

ROW_SCHEMA_VERSION = 1
ENDED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class _RowModel(BaseModel):
    # Mutable on purpose: `transition` deep-copies the row it is given and edits the copy, so a
    # caller's row is never changed. Unknown fields are refused so a bad changelog is loud.
    model_config = ConfigDict(extra="forbid")


class PendingStep(_RowModel):
    """The one step run the job is waiting for (never more than one)."""

    step_run_id: str = Field(description="jobId/state/attempt: the only result accepted.")
    state: str
    attempt: int = Field(ge=1)
    requested_at: datetime
    deadline: datetime = Field(description="requested_at + the state's TimeoutSeconds.")
    heartbeat_deadline: datetime | None = Field(
        None,
        description="Last heartbeat + HeartbeatSeconds; None before a worker has started the "
        "step (a request waiting in its topic is not timed by heartbeats) and for a Task without "
        "HeartbeatSeconds. While `silent`: when the step is requested again if nothing re-ran it.",
    )
    last_heartbeat: datetime | None = None
    progress: float = Field(0.0, ge=0, le=1, description="The step's own last reported share.")
    started_at: datetime | None = Field(None, description="The first heartbeat: a worker took it.")
    runs: list[str] = Field(
        default_factory=list,
        description="Tokens of the executions that beat for this step run, the current one last "
        "(a worker that restarts runs the same step run again under a new token).",
    )
    lost: int = Field(
        0,
        ge=0,
        description="Executions lost (silent past HeartbeatSeconds, or replaced by a new "
        "one): the crash budget, apart from the Retriers' counts.",
    )
    silent: bool = Field(
        False, description="No heartbeat for HeartbeatSeconds: worker deemed lost."
    )


class JobRow(_RowModel):
    """One job's execution of the state machine."""

    schema_version: int = ROW_SCHEMA_VERSION
    job_id: str
    tenant_id: str
    env: str
    manifest_key: str | None = None
    status: JobStatus
    state: str | None = Field(None, description="The state the job is in, or ended in.")
    attempts: dict[str, int] = Field(
        default_factory=dict,
        description="Step runs requested per state over the job's life; never reused, so every "
        "stepRunId is unique even after a retry request.",
    )
    retries: list[int] = Field(
        default_factory=list,
        description="Retries used per Retrier of `state` (ASL counts each retrier on its own); "
        "zeroed whenever the state is entered and when a retry is requested.",
    )
    pending: PendingStep | None = None
    retry_due: datetime | None = Field(
        None, description="When waiting to retry `state`: the first Tick at or after it retries."
    )
    deadline: datetime | None = Field(None, description="The document's TimeoutSeconds.")
    context: Any = Field(
        default_factory=dict,
        description="The job context (state input): jobId, tenantId, env, options, results, "
        "error. An object as the pipeline builds it, though ASL lets a ResultPath of $ make it "
        "any JSON value.",
    )
    done: list[str] = Field(
        default_factory=list, description="Step Tasks that have succeeded (for progress)."
    )
    progress: float = Field(0.0, ge=0, le=1)
    error: ErrorInfo | None = Field(None, description="What the manifest records as the error.")
    failed_state: str | None = Field(
        None, description="The Task whose error escaped its retriers: where a retry resumes."
    )
    revision: int | None = Field(
        None,
        ge=2,
        description="The review revision the row runs (the revision document); None: the edit.",
    )
    seed: int = Field(description="Seeds the retry jitter; derived from the job id.")
    seq: int = Field(0, ge=0, description="Counts the transitions that changed the row.")
    correlation_id: str | None = None
    traceparent: str | None = None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None

    @property
    def ended(self) -> bool:
        """The execution is over (completed, failed or cancelled): events are ignored."""
        return self.ended_at is not None

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)


def seed_for(job_id: str) -> int:
    """A stable 63-bit seed from the job id: the same job draws the same jitter on every replica
    and after every restart, while different jobs do not retry in lockstep."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") >> 1
