"""Runs one step handler and keeps the manifest's record of it: running → succeeded / failed.

Shared by `avocado process` and the step services, so both record steps the same way and turn
any exception into one of the contract's error codes (never a traceback for the user).

Nothing is written into a job that has ended: the manifest refuses a step's changes once the job
is cancelled, failed or completed (ManifestStore.update, under compare-and-swap), and run_step
then raises JobClosed. The objects the handler wrote are listed as it writes them; when the run
ends in a cancelled job — refused at its last record, or its task cancelled — they are deleted.
The guarantee: a step run that had not recorded its success before the cancel landed in the
manifest leaves no object and no manifest change in the job. (A run that had is a finished step
of the job; its outputs stay, as do those of the steps before it.)
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio

from .manifest_changes import RecordStep
from .manifest_store import JobClosed, ManifestStore, utcnow
from .media import FfmpegError, FfmpegNotInstalled, ProbeError
from .models import ErrorCode, JobStatus, StepRecord, StepStatus
from .steps import (
    ProgressReporter,
    StepEnv,
    StepError,
    StepHandler,
    StepRequest,
    StepResult,
    SubstepPublisher,
    no_progress,
)
from .storage import JobKeys, NotFound, Storage, StorageError
from .storage.recording import RecordingStorage

log = logging.getLogger(__name__)

# How long removing a cancelled run's objects may hold up the cancellation.
CLEANUP_SECONDS = 10.0


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
    run: str | None = None,
    substeps: SubstepPublisher | None = None,
    record: bool = True,
) -> StepOutcome:
    """Record the step running, run the handler, record how it ended. `run`: the execution's
    token, kept in the step's record (a worker whose token is no longer there was superseded).
    `substeps`: the handler's publisher of sub-steps (StepEnv.substeps). `record=False` (a
    sub-step, topology.SUBSTEPS): the manifest's step records are left alone — many run at
    once, and the pipeline knows only their parent step.

    Raises JobClosed, with nothing run or nothing kept, when the job has ended (cancelled,
    failed, completed) before the run could start or record its end; a cancelled task's objects
    are removed too when its job is cancelled, and the CancelledError goes on."""
    keys, step = request.keys, request.step
    started_at = utcnow()
    running = StepRecord(
        status=StepStatus.RUNNING, attempts=attempt, started_at=started_at, run=run
    )
    if record:
        await manifests.update(
            keys,
            RecordStep(step, running, f"{step} started (attempt {attempt})", "info", utcnow()),
        )
    written = RecordingStorage(storage)
    began = time.perf_counter()
    try:
        result, error, timed_out = await _call(
            handler, request, written, manifests, progress, time_limit, scratch_root, substeps
        )
        seconds = time.perf_counter() - began
        finished = StepRecord(
            status=StepStatus.SUCCEEDED if error is None else StepStatus.FAILED,
            attempts=attempt,
            started_at=started_at,
            finished_at=utcnow(),
            duration_sec=round(seconds, 3),
            run=run,
        )
        message = (
            f"{step} succeeded in {seconds:.1f} s" if error is None else f"{step} failed: {error}"
        )
        level: Literal["info", "error"] = "info" if error is None else "error"
        if record:
            await manifests.update(keys, RecordStep(step, finished, message, level, utcnow()))
    except JobClosed as closed:
        await _remove_if_cancelled(manifests, keys, written, closed)
        raise
    except BaseException:  # cancelled (superseded, the job cancelled, shutting down)
        await _remove_if_cancelled(manifests, keys, written, None)
        raise
    return StepOutcome(result=result, error=error, seconds=seconds, timed_out=timed_out)


async def _call(
    handler: StepHandler,
    request: StepRequest,
    storage: Storage,
    manifests: ManifestStore,
    progress: ProgressReporter,
    time_limit: float | None,
    scratch_root: Path | None,
    substeps: SubstepPublisher | None = None,
) -> tuple[StepResult | None, StepError | None, bool]:
    """The handler's result, or its error as a contract error (timed out: the flag). JobClosed
    (a change the handler made was refused) and cancellation go through."""
    step, keys = request.step, request.keys
    with tempfile.TemporaryDirectory(prefix=f"avocado-{step}-", dir=scratch_root) as scratch:
        env = StepEnv(
            storage=storage,
            manifests=manifests,
            workdir=Path(scratch),
            progress=progress,
            substeps=substeps,
        )
        try:
            with anyio.fail_after(time_limit):
                return await handler(request, env), None, False
        except TimeoutError:
            error = StepError(ErrorCode.TIMEOUT, f"the step did not finish within {time_limit:g} s")
            return None, error, True
        except JobClosed:
            raise
        except Exception as exc:  # every failure becomes a contract error, never a traceback
            if not isinstance(exc, StepError):
                log.exception("step %s of job %s failed unexpectedly", step, keys.job_id)
            return None, as_step_error(exc), False


async def _remove_if_cancelled(
    manifests: ManifestStore,
    keys: JobKeys,
    written: RecordingStorage,
    closed: JobClosed | None,
) -> None:
    """Delete what this run wrote if its job is cancelled (`closed` says so, or the manifest
    does). Shielded and bounded: it runs while the task is being cancelled."""
    if not written.written:
        return
    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_SECONDS):
        try:
            status = closed.status if closed is not None else (await manifests.get(keys)).status
            if status is not JobStatus.CANCELLED:
                return
            for key in written.written:
                await written.inner.delete(key)
            log.info(
                "job %s was cancelled: removed %d object(s) its step wrote",
                keys.job_id,
                len(written.written),
            )
        except Exception as exc:  # storage down: the objects stay, nothing refers to them
            log.warning("could not remove the objects of cancelled job %s: %s", keys.job_id, exc)
