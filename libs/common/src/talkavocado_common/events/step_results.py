"""The result events of a step run, built from its request: what a step service's worker
produces and what `avocado process` feeds its pipeline. Here, beside the event models, so the
local path builds them without importing the worker runtime (Kafka, metrics, tracing)."""

from __future__ import annotations

from typing import Any

from ..models import ErrorCode
from .models import StepError as StepErrorModel
from .models import StepFailed, StepRequested, StepSucceeded


def succeeded(requested: StepRequested, result: dict[str, Any], seconds: float) -> StepSucceeded:
    return StepSucceeded(
        job_id=requested.job_id,
        tenant_id=requested.tenant_id,
        env=requested.env,
        step_run_id=requested.step_run_id,
        state=requested.state,
        result=result,
        duration_sec=round(max(0.0, seconds), 3),
    )


def failed(requested: StepRequested, code: ErrorCode, message: str, seconds: float) -> StepFailed:
    return StepFailed(
        job_id=requested.job_id,
        tenant_id=requested.tenant_id,
        env=requested.env,
        step_run_id=requested.step_run_id,
        state=requested.state,
        error=StepErrorModel(code=code, message=message),
        duration_sec=round(max(0.0, seconds), 3),
    )
