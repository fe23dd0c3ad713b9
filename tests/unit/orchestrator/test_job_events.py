"""Duplicates and late results, heartbeats, cancel, and retry requests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from talkavocado_common.events import JobCancelRequested, StepSucceeded
from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.pipeline import EmitStatus, SetManifest, Tick, transition

from .helpers import (
    PIPELINE,
    STEPS,
    T0,
    TRACE,
    Driver,
    manifests,
    one_step,
    requests,
    status_event,
    submitted,
)

# ---- duplicates and late results ----------------------------------------------------------------


def test_duplicate_submission_is_ignored() -> None:
    d = Driver()
    d.submit()
    row = d.job
    assert d.submit() == []
    assert d.job is row


def test_duplicate_submission_of_an_ended_job_does_not_restart_it() -> None:
    d = Driver()
    d.submit()
    d.run_to_end()
    assert d.submit() == []
    assert d.job.status is JobStatus.COMPLETED


def test_duplicate_step_result_is_ignored() -> None:
    d = Driver()
    d.submit()
    run = d.pending.step_run_id
    d.succeed(run=run)
    assert d.succeed(run=run) == []
    assert d.fail(run=run) == []
    assert d.heartbeat(0.9, run=run) == []
    assert d.pending.state == "transcription"


def test_result_for_another_state_or_attempt_is_ignored() -> None:
    d = Driver()
    d.submit()
    assert d.succeed(run="job-1/transcription/1") == []
    assert d.succeed(run="job-1/audio-extraction/2") == []
    assert d.succeed(run="job-1/audio-extraction/0") == []
    assert d.pending.step_run_id == "job-1/audio-extraction/1"


def test_result_naming_another_job_is_ignored() -> None:
    d = Driver()
    d.submit()
    event = StepSucceeded(
        job_id="job-2",
        tenant_id="tenant-a",
        env="test",
        step_run_id=d.pending.step_run_id,
        state="audio-extraction",
        result={},
        duration_sec=1,
    )
    row, commands = transition(d.job, event, T0, PIPELINE)
    assert (row, commands) == (d.job, [])


def test_events_for_an_unknown_job_are_ignored() -> None:
    d = Driver()
    d.submit()
    run = d.pending.step_run_id
    stranger = Driver(job_id="job-1")
    assert stranger.row is None
    assert stranger.succeed(run=run) == []
    assert stranger.fail(run=run) == []
    assert stranger.heartbeat(0.5, run=run) == []
    assert stranger.retry() == []
    assert stranger.tick() == []
    assert stranger.row is None


def test_results_after_completion_are_ignored() -> None:
    d = Driver()
    d.submit()
    runs = []
    while not d.job.ended:
        runs.append(d.pending.step_run_id)
        d.succeed()
    for run in runs:
        assert d.succeed(run=run) == []
        assert d.fail(run=run) == []
    assert d.tick(10**6) == []


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        transition(None, submitted(), T0.replace(tzinfo=None), PIPELINE)


# ---- heartbeats ----------------------------------------------------------------------------------


def test_heartbeat_reports_progress_and_message() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    d.advance(10)
    commands = d.heartbeat(0.5, "decoding")
    status = status_event(commands).event
    assert [type(c) for c in commands] == [EmitStatus]
    assert (status.status, status.state, status.attempt, status.message) == (
        JobStatus.PROCESSING,
        "transcription",
        1,
        "decoding",
    )
    assert status.progress == pytest.approx(1.5 / 7)
    assert d.pending.heartbeat_deadline == d.now + timedelta(seconds=30)


def test_heartbeat_progress_never_goes_back() -> None:
    d = Driver()
    d.submit()
    figures = [status_event(d.heartbeat(p)).event.progress for p in (0.6, 0.2, 0.7, 0.0)]
    assert figures == pytest.approx([0.6 / 7, 0.6 / 7, 0.7 / 7, 0.7 / 7])
    assert d.pending.progress == 0.7


def test_heartbeat_on_a_step_without_heartbeat_seconds_keeps_no_deadline() -> None:
    d = Driver(one_step())
    d.submit()
    d.heartbeat(0.3)
    assert d.pending.heartbeat_deadline is None
    assert d.pending.last_heartbeat == d.now


# ---- cancel --------------------------------------------------------------------------------------


def test_cancel_a_running_job() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    run = d.pending.step_run_id
    commands = d.cancel("changed my mind")
    assert [type(c) for c in commands] == [SetManifest, EmitStatus]
    (mark,) = manifests(commands)
    assert (mark.status, mark.error) == (JobStatus.CANCELLED, None)
    status = status_event(commands).event
    assert (status.status, status.state, status.message) == (
        JobStatus.CANCELLED,
        "transcription",
        "cancelled: changed my mind",
    )
    assert status.progress == pytest.approx(1 / 7)
    assert d.job.ended
    assert d.job.pending is None

    # The cancelled step's result, a tick, another cancel and a retry request change nothing.
    assert d.succeed(run=run) == []
    assert d.fail(run=run) == []
    assert d.tick(10**6) == []
    assert d.cancel() == []
    assert d.retry() == []
    assert d.job.status is JobStatus.CANCELLED


def test_cancel_while_waiting_to_retry() -> None:
    d = Driver()
    d.submit()
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    assert d.job.retry_due is not None
    d.cancel()
    assert d.job.retry_due is None
    assert d.tick(3600) == []


@pytest.mark.parametrize("end", ["completed", "failed"])
def test_cancel_after_the_end_is_ignored(end: str) -> None:
    d = Driver()
    d.submit()
    if end == "completed":
        d.run_to_end()
    else:
        d.fail(ErrorCode.INPUT_INVALID)
    assert d.cancel() == []


def test_cancel_before_submission_keeps_the_job_from_starting() -> None:
    d = Driver()
    commands = d.cancel()
    assert [type(c) for c in commands] == [SetManifest, EmitStatus]
    assert manifests(commands)[0].status is JobStatus.CANCELLED
    assert d.job.status is JobStatus.CANCELLED
    assert d.job.ended
    assert d.job.correlation_id == TRACE.correlation_id
    assert d.submit() == []


def test_cancel_event_for_another_job_is_ignored() -> None:
    d = Driver()
    d.submit()
    event = JobCancelRequested(job_id="job-9", tenant_id="tenant-a", env="test")
    row, commands = transition(d.job, event, T0, PIPELINE)
    assert row is d.job
    assert commands == []


# ---- retry requests ------------------------------------------------------------------------------


def fail_at(d: Driver, state: str) -> None:
    while d.pending.state != state:
        d.succeed()
    d.fail(ErrorCode.INPUT_INVALID, "bad")
    assert d.job.status is JobStatus.FAILED


def test_retry_request_resumes_from_the_failed_state_keeping_results() -> None:
    d = Driver()
    d.submit()
    fail_at(d, "smart-cut-planner")
    failed_run = "job-1/smart-cut-planner/1"
    progress = d.job.progress
    d.advance(60)

    commands = d.retry()
    assert [type(c) for c in commands] == [SetManifest, type(commands[1]), EmitStatus]
    (mark,) = manifests(commands)
    assert (mark.status, mark.error) == (JobStatus.PROCESSING, None)
    (request,) = requests(commands)
    # A fresh run id: the attempt numbers go on, so nothing from the first run is mistaken for it.
    assert request.request.step_run_id == "job-1/smart-cut-planner/2"
    assert request.request.deadline == d.now + timedelta(seconds=300)
    assert "error" not in request.request.input
    assert set(request.request.input["results"]) == {"audio_extraction", "transcription"}
    status = status_event(commands).event
    assert (status.status, status.state, status.error) == (
        JobStatus.PROCESSING,
        "smart-cut-planner",
        None,
    )
    assert status.progress == progress
    assert "retry requested" in status.message

    row = d.job
    assert not row.ended
    assert row.error is None
    assert row.failed_state is None
    assert row.deadline == d.now + timedelta(hours=6)
    assert d.succeed(run=failed_run) == []
    assert d.run_to_end() == STEPS[2:]
    assert d.job.status is JobStatus.COMPLETED


def test_retry_request_gives_fresh_retry_counters() -> None:
    d = Driver()
    d.submit()
    for _ in range(3):
        d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
        d.tick_at(d.job.retry_due or d.now)
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    assert d.job.ended
    assert d.job.failed_state == "audio-extraction"
    d.retry()
    assert d.job.retries == [0]
    assert d.pending.attempt == 5
    for _ in range(3):  # three more retries, as the document says
        d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
        assert d.job.status is JobStatus.PROCESSING
        d.tick_at(d.job.retry_due or d.now)
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    assert d.job.status is JobStatus.FAILED


def test_retry_request_after_a_job_timeout_resumes_the_step_it_was_in() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    d.tick_at(T0 + timedelta(hours=6))
    assert d.job.status is JobStatus.FAILED
    d.retry()
    assert d.pending.state == "transcription"


def test_retry_request_can_be_repeated_after_another_failure() -> None:
    d = Driver()
    d.submit()
    fail_at(d, "video-cuts")
    d.retry()
    d.fail(ErrorCode.INPUT_INVALID)
    d.retry()
    assert d.pending.step_run_id == "job-1/video-cuts/3"


@pytest.mark.parametrize("situation", ["running", "waiting-to-retry", "completed", "cancelled"])
def test_retry_request_on_a_job_that_has_not_failed_is_ignored(situation: str) -> None:
    d = Driver()
    d.submit()
    if situation == "waiting-to-retry":
        d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    elif situation == "completed":
        d.run_to_end()
    elif situation == "cancelled":
        d.cancel()
    row = d.job
    assert d.retry() == []
    assert d.job is row


def test_ticks_on_an_idle_running_job_change_nothing() -> None:
    d = Driver()
    d.submit()
    row = d.job
    for seconds in (0, 1, 29):
        assert transition(row, Tick(T0), T0 + timedelta(seconds=seconds), PIPELINE) == (row, [])
