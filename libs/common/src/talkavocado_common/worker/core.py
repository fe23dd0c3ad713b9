"""The worker's pure logic: step.requested → StepRequest, time limits, heartbeat pacing and the
events a step run emits. No broker, no clock of its own (times are arguments)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..events import (
    CloudEvent,
    StepFailed,
    StepHeartbeat,
    StepRequested,
    StepSucceeded,
    new_event,
)
from ..events.step_results import failed as failed
from ..events.step_results import succeeded as succeeded
from ..kafka.headers import child_traceparent
from ..manifest_changes import CLOSED_STATUSES
from ..models import ErrorCode, JobOptions, Manifest
from ..steps import StepError, StepRequest
from ..storage import InvalidKey, JobKeys

# Never heartbeat more often than this, whatever HeartbeatSeconds says.
MIN_HEARTBEAT_INTERVAL = 0.05


def build_step_request(requested: StepRequested) -> StepRequest:
    """The handler's input: job keys from the event (a review revision's, when the input
    names one), options from input["options"], the whole state input as context. Raises
    StepError(INPUT_INVALID) for bad ids, revision or options."""
    try:
        revision = requested.input.get("revision")
        keys = JobKeys(requested.env, requested.tenant_id, requested.job_id, revision)
    except InvalidKey as exc:
        raise StepError(ErrorCode.INPUT_INVALID, str(exc)) from None
    raw_options: Any = requested.input.get("options") or {}
    try:
        options = JobOptions.model_validate(raw_options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise StepError(
            ErrorCode.INPUT_INVALID, f"invalid options: {where}: {first['msg']}"
        ) from None
    return StepRequest(step=requested.step, keys=keys, options=options, context=requested.input)


def seconds_left(deadline: datetime, now: datetime) -> float:
    """The step's time limit: what is left until the deadline (≤ 0 when it has passed)."""
    return (deadline - now).total_seconds()


def heartbeat_interval(heartbeat_seconds: float | None, default_seconds: float) -> float:
    """A third of HeartbeatSeconds (docs/architecture.md §5), so two lost heartbeats are still on time."""
    return max(MIN_HEARTBEAT_INTERVAL, (heartbeat_seconds or default_seconds) / 3)


def next_beat(started: float, interval: float, now: float) -> float:
    """The next heartbeat time on the grid started + k·interval strictly after `now`.

    Beats stay on the grid (no drift from the time a send takes) and missed ones are skipped,
    not sent in a burst, when a send was slow."""
    if now < started:
        return started
    return started + (math.floor((now - started) / interval) + 1) * interval


def clamp_progress(fraction: float) -> float:
    if math.isnan(fraction):
        return 0.0
    return min(1.0, max(0.0, fraction))


def reply(
    payload: StepHeartbeat | StepSucceeded | StepFailed,
    request: CloudEvent,
    *,
    source: str,
    traceparent: str | None = None,
) -> CloudEvent:
    """An event answering `request`: same subject, tenant and correlation id, same trace."""
    if isinstance(payload, StepHeartbeat):
        event_type = "step.heartbeat"
    elif isinstance(payload, StepSucceeded):
        event_type = "step.succeeded"
    else:
        event_type = "step.failed"
    return new_event(
        event_type,
        payload,
        source=source,
        subject=request.subject,
        tenant_id=request.tenantid,
        correlation_id=request.correlationid,
        traceparent=traceparent or child_traceparent(request.traceparent),
    )


def heartbeat(
    requested: StepRequested, progress: float, message: str, run: str | None = None
) -> StepHeartbeat:
    """A beat of this execution (`run`: its token; the first beat with it says it started)."""
    return StepHeartbeat(
        job_id=requested.job_id,
        tenant_id=requested.tenant_id,
        env=requested.env,
        step_run_id=requested.step_run_id,
        state=requested.state,
        progress=clamp_progress(progress),
        message=message[:500],
        run=run,
    )


def stop_reason(
    manifest: Manifest, requested: StepRequested, run: str | None, *, started: bool
) -> str | None:
    """Why an execution of `requested` must stop (None: carry on), from the job's manifest: the
    job has ended (cancelled, failed, completed), a newer attempt of the step has started, or —
    once this execution has recorded itself (`started`) — another execution of the same attempt
    took the step over (the partition moved to another worker)."""
    if manifest.status in CLOSED_STATUSES:
        return f"the job is {manifest.status.value}"
    record = manifest.steps.get(requested.step)
    if record is None:
        return None
    if record.attempts > requested.attempt:
        return f"superseded by attempt {record.attempts}"
    if (
        started
        and record.attempts == requested.attempt
        and record.run is not None
        and record.run != run
    ):
        return "superseded by another execution of the same attempt"
    return None


def substep_request(
    requested: StepRequested, step: str, name: str, payload: Mapping[str, Any]
) -> StepRequested:
    """A sub-step of `requested` (StepEnv.substeps): same job, state, attempt, deadline and
    heartbeat; `payload` as its input; its own run id (`<parent run id>/<name>`), which is never
    the one the orchestrator waits for, so it ignores the sub-step's heartbeats and result."""
    if not name or "/" in name:
        raise ValueError(f"invalid sub-step name {name!r}")
    return requested.model_copy(
        update={
            "step": step,
            "step_run_id": f"{requested.step_run_id}/{name}",
            "input": dict(payload),
        }
    )


def substep_key(requested: StepRequested, name: str) -> bytes:
    """The sub-step's Kafka key: not the job's (which would put every sub-step on the one
    partition the step's own worker is busy on) but one per sub-step, spread by the hash."""
    return f"{requested.job_id}/{requested.step_run_id}/{name}".encode()
