"""The upload step's state machine, kept in the manifest's `upload` step record.

    (none) or failed ──claim──▶ running ──complete──▶ succeeded   (the job is submitted)
                                   │ ──release──▶ failed, job still pending (upload again)
                                   │ ──reject───▶ failed, job failed (INPUT_INVALID)

Only one request holds the claim at a time: another one is refused while the claim is younger
than the TTL, after which it may take the claim over (its uploader died). Every transition is a
pure function of the manifest, applied with the manifest store's compare-and-swap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import anyio

from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import (
    ErrorCode,
    ErrorInfo,
    JobStatus,
    LogEntry,
    Manifest,
    StepRecord,
    StepStatus,
)
from talkavocado_common.storage import JobKeys

from .common import UPLOAD_STEP, log, utcnow
from .errors import Conflict

Change = Callable[[Manifest], Manifest]


def never_submitted(m: Manifest) -> bool:
    """Pending and not uploaded yet: nobody outside the API knows the job."""
    record = m.steps.get(UPLOAD_STEP)
    return m.status == JobStatus.PENDING and (
        record is None or record.status != StepStatus.SUCCEEDED
    )


def check_uploadable(m: Manifest) -> None:
    record = m.steps.get(UPLOAD_STEP)
    if m.status != JobStatus.PENDING:
        raise Conflict(
            f"the job is {m.status.value}; its input can only be uploaded while it is pending",
            status=m.status,
        )
    if record is not None and record.status == StepStatus.SUCCEEDED:
        raise Conflict("the input was already uploaded", status=m.status)
    if m.input is None:
        raise Conflict("the job declares no input", status=m.status)


def with_step(m: Manifest, record: StepRecord, level: str, message: str) -> Manifest:
    entry = LogEntry.model_validate(
        {"time": utcnow(), "level": level, "step": UPLOAD_STEP, "message": message}
    )
    return m.model_copy(
        update={"steps": {**m.steps, UPLOAD_STEP: record}, "logs": [*m.logs, entry]}
    )


def _ours(record: StepRecord | None, started: datetime) -> bool:
    """Is `record` the running claim taken at `started`? (Each claim's instant is its id.)"""
    return (
        record is not None and record.status == StepStatus.RUNNING and record.started_at == started
    )


def claim(now: datetime, ttl: timedelta) -> Change:
    def change(m: Manifest) -> Manifest:
        check_uploadable(m)
        record = m.steps.get(UPLOAD_STEP)
        if _ours(record, now):
            return m  # this claim's own write landed, though its answer was lost: keep it
        if (
            record is not None
            and record.status == StepStatus.RUNNING
            and now - record.started_at < ttl
        ):
            raise Conflict("an upload for this job is already in progress", status=m.status)
        attempts = record.attempts + 1 if record is not None else 1
        running = StepRecord(status=StepStatus.RUNNING, attempts=attempts, started_at=now)
        return with_step(m, running, "info", f"upload started (attempt {attempts})")

    return change


def finish(
    started: datetime,
    outcome: StepStatus,
    level: str,
    message: str,
    job_update: Mapping[str, Any] | None = None,
) -> Change:
    """End the claim taken at `started` (refused if another request took it over since)."""

    def change(m: Manifest) -> Manifest:
        record = m.steps.get(UPLOAD_STEP)
        if record is None or record.started_at != started:
            raise Conflict("the upload was taken over by another request")
        if outcome == StepStatus.SUCCEEDED and m.status != JobStatus.PENDING:
            raise Conflict(
                f"the job became {m.status.value} during the upload; it was not submitted",
                status=m.status,
            )
        now = utcnow()
        finished = StepRecord(
            status=outcome,
            attempts=record.attempts,
            started_at=started,
            finished_at=now,
            duration_sec=round((now - started).total_seconds(), 3),
        )
        return with_step(m.model_copy(update=dict(job_update or {})), finished, level, message)

    return change


class UploadClaim:
    """The claim one request holds on a job's upload, from `take` to one of its three ends."""

    def __init__(self, manifests: ManifestStore, keys: JobKeys, started: datetime) -> None:
        self.manifests = manifests
        self.keys = keys
        self.started = started

    @classmethod
    async def take(cls, manifests: ManifestStore, keys: JobKeys, ttl: timedelta) -> UploadClaim:
        started = utcnow()
        taken = cls(manifests, keys, started)
        try:
            await manifests.update(keys, claim(started, ttl))
        except Conflict:
            raise
        except BaseException:
            # Storage failed or the request was cancelled: the write may still have landed.
            # Give back the claim if it is ours (finish() leaves anyone else's alone).
            await taken.release("upload claim interrupted")
            raise
        return taken

    async def complete(self, message: str) -> Manifest:
        """The upload succeeded: the job may be submitted."""
        return await self.manifests.update(
            self.keys, finish(self.started, StepStatus.SUCCEEDED, "info", message)
        )

    async def release(self, reason: str) -> None:
        """Give the claim back (the client may upload again), recording why."""
        with anyio.CancelScope(shield=True):
            try:
                await self.manifests.update(
                    self.keys, finish(self.started, StepStatus.FAILED, "warning", reason)
                )
            except Exception as exc:  # the original error matters more
                log.warning("could not release the upload claim: %s", exc)

    async def reject(self, message: str) -> None:
        """The file is not a usable recording: the job fails with INPUT_INVALID."""
        error = ErrorInfo(code=ErrorCode.INPUT_INVALID, message=message, step=UPLOAD_STEP)
        with anyio.CancelScope(shield=True):
            await self.manifests.update(
                self.keys,
                finish(
                    self.started,
                    StepStatus.FAILED,
                    "error",
                    f"input rejected: {message}",
                    {"status": JobStatus.FAILED, "error": error},
                ),
            )
        log.info("input rejected: %s", message)
