"""The upload claim's state machine, as pure transitions of a manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from talkavocado_api.usecases.common import UPLOAD_STEP
from talkavocado_api.usecases.errors import Conflict
from talkavocado_api.usecases.upload_claim import (
    check_uploadable,
    claim,
    finish,
    never_submitted,
)
from talkavocado_common.models import (
    InputInfo,
    JobOptions,
    JobStatus,
    Manifest,
    StepRecord,
    StepStatus,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
TTL = timedelta(hours=6)


def pending(**update: object) -> Manifest:
    manifest = Manifest(
        job_id="0190000000000-0000",
        tenant_id="tenant-a",
        env="test",
        status=JobStatus.PENDING,
        options=JobOptions(),
        input=InputInfo(
            key="test/tenant-a/0190000000000-0000/input/talk.mp4",
            original_filename="talk.mp4",
            bytes=10,
            mime_type="video/mp4",
        ),
        created_at=T0,
        updated_at=T0,
    )
    return manifest.model_copy(update=update)


def upload_record(m: Manifest) -> StepRecord:
    return m.steps[UPLOAD_STEP]


def test_a_claim_runs_the_upload_step_and_counts_attempts() -> None:
    first = claim(T0, TTL)(pending())
    assert upload_record(first).status == StepStatus.RUNNING
    assert upload_record(first).attempts == 1
    assert first.logs[-1].message == "upload started (attempt 1)"
    released = finish(T0, StepStatus.FAILED, "warning", "gone")(first)
    again = claim(T0 + timedelta(seconds=1), TTL)(released)
    assert upload_record(again).attempts == 2
    assert never_submitted(again)


def test_a_fresh_claim_is_exclusive_and_a_stale_one_is_taken_over() -> None:
    held = claim(T0, TTL)(pending())
    with pytest.raises(Conflict, match="already in progress") as caught:
        claim(T0 + TTL - timedelta(seconds=1), TTL)(held)
    assert caught.value.status == JobStatus.PENDING
    taken = claim(T0 + TTL, TTL)(held)
    assert upload_record(taken).started_at == T0 + TTL
    with pytest.raises(Conflict, match="taken over by another request"):
        finish(T0, StepStatus.SUCCEEDED, "info", "done")(taken)


def test_completing_submits_unless_the_job_changed_meanwhile() -> None:
    held = claim(T0, TTL)(pending())
    done = finish(T0, StepStatus.SUCCEEDED, "info", "input uploaded")(held)
    assert upload_record(done).status == StepStatus.SUCCEEDED
    assert upload_record(done).finished_at is not None
    assert not never_submitted(done)
    cancelled = held.model_copy(update={"status": JobStatus.CANCELLED})
    with pytest.raises(Conflict, match="became cancelled during the upload") as caught:
        finish(T0, StepStatus.SUCCEEDED, "info", "input uploaded")(cancelled)
    assert caught.value.status == JobStatus.CANCELLED


def test_a_rejection_fails_the_job_with_the_update_given() -> None:
    held = claim(T0, TTL)(pending())
    failed = finish(T0, StepStatus.FAILED, "error", "rejected", {"status": JobStatus.FAILED})(held)
    assert failed.status == JobStatus.FAILED
    assert upload_record(failed).status == StepStatus.FAILED
    assert not never_submitted(failed)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (pending(status=JobStatus.CANCELLED), "the job is cancelled; its input can only"),
        (
            pending(
                steps={
                    UPLOAD_STEP: StepRecord(status=StepStatus.SUCCEEDED, attempts=1, started_at=T0)
                }
            ),
            "the input was already uploaded",
        ),
        (pending(input=None), "the job declares no input"),
    ],
)
def test_what_cannot_be_uploaded_to(manifest: Manifest, message: str) -> None:
    with pytest.raises(Conflict, match=message) as caught:
        check_uploadable(manifest)
    assert caught.value.status == manifest.status
    with pytest.raises(Conflict):
        claim(T0, TTL)(manifest)


def test_a_claim_that_meets_its_own_write_keeps_it() -> None:
    """A claim whose write landed but whose answer was lost runs again on the manifest it wrote
    itself: that is its own claim, not another upload in progress (a 409 and a claim stuck for
    the TTL)."""
    first = claim(T0, TTL)(pending())
    assert claim(T0, TTL)(first) == first
    with pytest.raises(Conflict, match="already in progress"):
        claim(T0 + timedelta(microseconds=1), TTL)(first)
