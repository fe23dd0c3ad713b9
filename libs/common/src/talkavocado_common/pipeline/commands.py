"""What goes into the transition function besides the event payloads (`Tick`, `Trace`), and
what comes out of it: commands the imperative shell carries out, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from talkavocado_common.events import (
    JobCancelRequested,
    JobRef,
    JobRenderRequested,
    JobResumeRequested,
    JobRetryRequested,
    JobStatusChanged,
    JobSubmitted,
    StepFailed,
    StepHeartbeat,
    StepRequested,
    StepSucceeded,
)
from talkavocado_common.models import ErrorInfo, JobStatus


@dataclass(frozen=True)
class Tick:
    """The timer's reading. Deadlines and retry-due times live in the row; a Tick reads them."""

    now: datetime


Event = (
    JobSubmitted
    | JobCancelRequested
    | JobRetryRequested
    | JobResumeRequested
    | JobRenderRequested
    | StepHeartbeat
    | StepSucceeded
    | StepFailed
    | Tick
)


@dataclass(frozen=True)
class Trace:
    """Correlation id and W3C trace context, carried from the submission into every event."""

    correlation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class RequestStep:
    """Produce `step.requested` on the step topic of `service` (Topics.steps(service))."""

    service: str
    request: StepRequested
    trace: Trace


@dataclass(frozen=True)
class SetManifest:
    """Set the manifest's status and error (None clears it), read-modify-write."""

    job: JobRef
    status: JobStatus
    error: ErrorInfo | None
    trace: Trace


@dataclass(frozen=True)
class EmitStatus:
    """Produce `job.status-changed` on the status topic."""

    event: JobStatusChanged
    trace: Trace


Command = RequestStep | SetManifest | EmitStatus
