"""The index of active jobs: its keys (beside the tenants, never under one) and the reconciler's
decision for each indexed job, from its manifest alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from talkavocado_common.active_jobs import Forget, Resubmit, Resume, Wait, decide
from talkavocado_common.models import (
    InputInfo,
    JobOptions,
    JobStatus,
    Manifest,
    RenderArtifact,
    Revision,
    StepRecord,
    StepStatus,
)
from talkavocado_common.storage import InvalidKey, JobKeys
from talkavocado_common.storage.keys import active_prefix, parse_active_key

KEYS = JobKeys("prod", "acme", "job-1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def manifest(status: JobStatus, **steps: StepStatus) -> Manifest:
    return Manifest(
        job_id="job-1",
        tenant_id="acme",
        env="prod",
        status=status,
        options=JobOptions.model_validate({"transitions": {"enabled": True}}),
        input=InputInfo(
            key=KEYS.input("talk.mp4"),
            original_filename="talk.mp4",
            bytes=10,
            mime_type="video/mp4",
        ),
        steps={
            name.replace("_", "-"): StepRecord(
                status=s, attempts=2, started_at=T0, finished_at=T0 if s != "running" else None
            )
            for name, s in steps.items()
        },
        created_at=T0,
        updated_at=T0,
    )


def test_index_keys_sit_beside_the_tenants() -> None:
    assert KEYS.active == "prod/_active/acme/job-1"
    assert active_prefix("prod") == "prod/_active/"
    assert not KEYS.active.startswith(f"{KEYS.env}/{KEYS.tenant_id}/")
    assert parse_active_key(KEYS.active) == KEYS
    with pytest.raises(InvalidKey):
        JobKeys("prod", "_active", "job-1")  # no tenant can be the index
    with pytest.raises(InvalidKey):
        active_prefix("../x")


@pytest.mark.parametrize(
    "key",
    [
        "prod/acme/job-1/manifest.json",
        "prod/_active/acme",
        "prod/_active/acme/job-1/x",
        "prod/_active/Bad Tenant/job-1",
        "prod/_active/acme/..",
        "prod/other/acme/job-1",
    ],
)
def test_anything_else_under_the_index_is_skipped(key: str) -> None:
    assert parse_active_key(key) is None


def test_ended_or_missing_jobs_leave_the_index() -> None:
    for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert isinstance(decide(KEYS, manifest(status), T0, GRACE), Forget)
    assert isinstance(decide(KEYS, None, T0, GRACE), Forget)


def test_a_processing_job_is_resumed_from_what_its_manifest_records() -> None:
    m = manifest(
        JobStatus.PROCESSING,
        upload=StepStatus.SUCCEEDED,
        audio_extraction=StepStatus.SUCCEEDED,
        transcription=StepStatus.RUNNING,
    )
    decision = decide(KEYS, m, T0, GRACE)
    assert isinstance(decision, Resume)
    event = decision.event
    assert event.succeeded == ["audio-extraction"]
    assert event.attempts == {"audio-extraction": 2, "transcription": 2}
    assert event.status is JobStatus.PROCESSING
    assert event.options == m.options
    assert event.manifest_key == KEYS.manifest


def test_a_pending_job_is_resubmitted_only_after_its_upload_and_the_grace_period() -> None:
    assert isinstance(decide(KEYS, manifest(JobStatus.PENDING), T0, GRACE), Wait)
    running = manifest(JobStatus.PENDING, upload=StepStatus.RUNNING)
    assert isinstance(decide(KEYS, running, T0 + GRACE * 10, GRACE), Wait)
    released = manifest(JobStatus.PENDING, upload=StepStatus.FAILED)
    assert isinstance(decide(KEYS, released, T0 + GRACE * 10, GRACE), Wait)
    uploaded = manifest(JobStatus.PENDING, upload=StepStatus.SUCCEEDED)
    assert isinstance(decide(KEYS, uploaded, T0 + GRACE / 2, GRACE), Wait)
    decision = decide(KEYS, uploaded, T0 + GRACE, GRACE)
    assert isinstance(decision, Resubmit)
    assert decision.event.input == uploaded.input
    assert decision.event.options == uploaded.options


def test_a_job_rendering_a_review_revision_resumes_that_revision() -> None:
    later = T0 + timedelta(hours=1)
    m = manifest(
        JobStatus.PROCESSING,
        upload=StepStatus.SUCCEEDED,
        audio_extraction=StepStatus.SUCCEEDED,
        transcription=StepStatus.SUCCEEDED,
        smart_cut_planner=StepStatus.SUCCEEDED,
        branding_layer=StepStatus.SUCCEEDED,
    )
    # Since the revision was asked for, video-cuts ran again; the rest is the first edit's.
    redone = StepRecord(status=StepStatus.SUCCEEDED, attempts=3, started_at=later)
    requested = Revision(revision=2, requested_at=later, edits=1, cut_plan="k")
    m = m.model_copy(update={"revisions": [requested], "steps": {**m.steps, "video-cuts": redone}})
    decision = decide(KEYS, m, later, GRACE)
    assert isinstance(decision, Resume)
    assert decision.event.revision == 2
    assert decision.event.succeeded == ["video-cuts"]
    # Once the revision has its render, a processing job is no longer rendering it.
    rendered = requested.model_copy(
        update={
            "renders": [
                RenderArtifact(key="r", kind="final", duration_sec=1, width=2, height=2, bytes=3)
            ]
        }
    )
    done = decide(KEYS, m.model_copy(update={"revisions": [rendered]}), later, GRACE)
    assert isinstance(done, Resume)
    assert done.event.revision is None
