"""Runs one step handler and keeps the manifest's record of it: running → succeeded / failed.

Shared by `avocado process` and the step services, so both record steps the same way and turn
any exception into one of the contract's error codes (never a traceback for the user).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from .manifest_changes import RecordStep
from .manifest_store import ManifestStore, utcnow
from .media import FfmpegError, FfmpegNotInstalled, ProbeError
from .models import ErrorCode, StepRecord, StepStatus
from .steps import (
    ProgressReporter,
    StepEnv,
    StepError,
    StepHandler,
    StepRequest,
    StepResult,
    no_progress,
)
from .storage import NotFound, Storage, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepOutcome:
    result: StepResult | None
    error: StepError | None
    seconds: float
    timed_out: bool = False

    @property
    def error_name(self) -> str | None:
        """The name ASL Retry/Catch match on: the error code, or States.Timeout."""
        if self.timed_out:
            return "States.Timeout"
        return None if self.error is None else str(self.error.code)

    @property
    def ok(self) -> bool:
        return self.error is None


def as_step_error(exc: BaseException) -> StepError:
    """Map any failure to a contract error code and a message fit for a user."""
    if isinstance(exc, StepError):
        return exc
    if isinstance(exc, NotFound):
        return StepError(ErrorCode.INPUT_NOT_FOUND, f"a file the step needs is missing: {exc.key}")
    if isinstance(exc, StorageError):  # S3 unreachable, throttled, access denied: Retry decides
        return StepError(ErrorCode.TRANSIENT_DEPENDENCY, f"storage: {exc}")
    if isinstance(exc, FfmpegNotInstalled):
        return StepError(ErrorCode.INTERNAL, str(exc))
    if isinstance(exc, FfmpegError):
        return StepError(
            ErrorCode.INTERNAL,
            f"ffmpeg failed: {exc.stderr_tail.splitlines()[-1] if exc.stderr_tail else exc.returncode}",
        )
    if isinstance(exc, ProbeError):
        return StepError(ErrorCode.INPUT_INVALID, f"the file could not be read as media: {exc}")
    if isinstance(exc, TimeoutError):
        return StepError(ErrorCode.TIMEOUT, "the step took too long")
    if isinstance(exc, OSError):
        return StepError(ErrorCode.TRANSIENT_DEPENDENCY, f"{type(exc).__name__}: {exc}")
    return StepError(ErrorCode.INTERNAL, f"unexpected {type(exc).__name__}: {exc}")


async def run_step(
    handler: StepHandler,
    request: StepRequest,
    *,
    storage: Storage,
    manifests: ManifestStore,
    progress: ProgressReporter = no_progress,
    attempt: int = 1,
    time_limit: float | None = None,
    scratch_root: Path | None = None,
) -> StepOutcome:
    keys, step = request.keys, request.step
    started_at = utcnow()
    running = StepRecord(status=StepStatus.RUNNING, attempts=attempt, started_at=started_at)
    await manifests.update(
        keys, RecordStep(step, running, f"{step} started (attempt {attempt})", "info", utcnow())
    )
    began = time.perf_counter()
    result: StepResult | None = None
    error: StepError | None = None
    timed_out = False
    with tempfile.TemporaryDirectory(prefix=f"avocado-{step}-", dir=scratch_root) as scratch:
        env = StepEnv(
            storage=storage, manifests=manifests, workdir=Path(scratch), progress=progress
        )
        try:
            with anyio.fail_after(time_limit):
                result = await handler(request, env)
        except TimeoutError:
            timed_out = True
            error = StepError(ErrorCode.TIMEOUT, f"the step did not finish within {time_limit:g} s")
        except Exception as exc:  # every failure becomes a contract error, never a traceback
            error = as_step_error(exc)
            if not isinstance(exc, StepError):
                log.exception("step %s of job %s failed unexpectedly", step, keys.job_id)
    seconds = time.perf_counter() - began
    finished = StepRecord(
        status=StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
        attempts=attempt,
        started_at=started_at,
        finished_at=utcnow(),
        duration_sec=round(seconds, 3),
    )
    message = f"{step} succeeded in {seconds:.1f} s" if error is None else f"{step} failed: {error}"
    await manifests.update(
        keys, RecordStep(step, finished, message, "info" if error is None else "error", utcnow())
    )
    return StepOutcome(result=result, error=error, seconds=seconds, timed_out=timed_out)
