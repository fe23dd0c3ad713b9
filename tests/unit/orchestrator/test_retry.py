"""Retry: IntervalSeconds, BackoffRate, MaxDelaySeconds, FULL jitter, MaxAttempts, and the
retry-due time that only a Tick at or after it honours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.pipeline import EmitStatus, RequestStep, SetManifest, Tick

from .helpers import PIPELINE, T0, Driver, manifests, one_step, requests, status_event

TRANSIENT = ErrorCode.TRANSIENT_DEPENDENCY


def retrier(**fields: Any) -> dict[str, Any]:
    return {"ErrorEquals": ["TRANSIENT_DEPENDENCY"], **fields}


def delays(d: Driver, failures: int) -> list[float]:
    """Fail the pending step `failures` times; the seconds to each retry-due time."""
    out = []
    for _ in range(failures):
        failed_at = d.now
        d.fail(TRANSIENT)
        assert d.job.retry_due is not None, "expected a retry to be scheduled"
        out.append((d.job.retry_due - failed_at).total_seconds())
        d.tick_at(d.job.retry_due)
    return out


def test_interval_and_backoff_rate_without_jitter() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=2, BackoffRate=3.0, MaxAttempts=4)]))
    d.submit()
    assert delays(d, 4) == [2.0, 6.0, 18.0, 54.0]


def test_backoff_rate_one_keeps_the_interval() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=5, BackoffRate=1.0, MaxAttempts=3)]))
    d.submit()
    assert delays(d, 3) == [5.0, 5.0, 5.0]


def test_max_delay_caps_the_backoff() -> None:
    d = Driver(
        one_step(
            retry=[retrier(IntervalSeconds=10, BackoffRate=2.0, MaxAttempts=5, MaxDelaySeconds=25)]
        )
    )
    d.submit()
    assert delays(d, 5) == [10.0, 20.0, 25.0, 25.0, 25.0]


def test_asl_defaults_for_interval_backoff_and_attempts() -> None:
    d = Driver(one_step(retry=[retrier()]))  # 1 s, x2, 3 attempts
    d.submit()
    assert delays(d, 3) == [1.0, 2.0, 4.0]
    d.fail(TRANSIENT)
    assert d.job.status is JobStatus.FAILED


@pytest.mark.parametrize("max_attempts", [0, 1, 3])
def test_max_attempts_retries_then_catches(max_attempts: int) -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=1, MaxAttempts=max_attempts)]))
    d.submit()
    for attempt in range(1, max_attempts + 1):
        assert d.pending.attempt == attempt
        d.fail(TRANSIENT, f"try {attempt}")
        assert d.job.status is JobStatus.PROCESSING
        assert d.job.retry_due is not None
        d.tick_at(d.job.retry_due)
    assert d.pending.attempt == max_attempts + 1
    commands = d.fail(TRANSIENT, "still down")
    (mark,) = manifests(commands)
    assert mark.status is JobStatus.FAILED
    assert mark.error is not None
    assert (mark.error.code, mark.error.message, mark.error.step) == (
        TRANSIENT,
        "still down",
        "work",
    )
    assert d.job.context["error"] == {
        "Error": "TRANSIENT_DEPENDENCY",
        "Cause": "still down",
        "State": "work",
    }
    assert d.job.ended


def test_default_pipeline_retries_three_times_with_capped_full_jitter() -> None:
    d = Driver()
    d.submit()
    waited = delays(d, 3)
    for n, delay in enumerate(waited, start=1):
        assert 0.0 <= delay <= min(2.0 * 2 ** (n - 1), 30.0)
    assert d.pending.step_run_id == "job-1/audio-extraction/4"
    d.fail(TRANSIENT, "storage unreachable")
    assert d.job.status is JobStatus.FAILED
    assert d.job.error is not None
    assert d.job.error.code is TRANSIENT
    assert d.job.failed_state == "audio-extraction"


def jittered_delays(job_id: str, failures: int = 5) -> list[float]:
    d = Driver(
        one_step(
            retry=[
                retrier(
                    IntervalSeconds=4,
                    BackoffRate=2.0,
                    MaxAttempts=failures,
                    MaxDelaySeconds=20,
                    JitterStrategy="FULL",
                )
            ]
        ),
        job_id=job_id,
    )
    d.submit()
    return delays(d, failures)


def test_full_jitter_stays_within_zero_and_the_capped_backoff() -> None:
    bounds = [4.0, 8.0, 16.0, 20.0, 20.0]
    samples = [jittered_delays(f"job-{i}") for i in range(200)]
    for sample in samples:
        assert all(0.0 <= s <= b for s, b in zip(sample, bounds, strict=True))
    # Full jitter spreads over the whole range, not just near the top.
    for n, bound in enumerate(bounds):
        column = [s[n] for s in samples]
        assert min(column) < 0.15 * bound
        assert max(column) > 0.85 * bound
        assert 0.35 * bound < sum(column) / len(column) < 0.65 * bound


def test_jitter_is_deterministic_per_job_and_differs_between_jobs() -> None:
    assert jittered_delays("job-a") == jittered_delays("job-a")
    assert jittered_delays("job-a") != jittered_delays("job-b")
    # Different draws for successive retries of one job.
    assert len(set(jittered_delays("job-a"))) == 5


def test_jitter_comes_from_the_row_seed() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=100, JitterStrategy="FULL")]))
    d.submit()
    reseeded = d.job.model_copy(update={"seed": d.job.seed + 1})
    other = Driver(d.machine)
    other.row = reseeded
    d.fail(TRANSIENT)
    other.fail(TRANSIENT)
    assert d.job.retry_due != other.job.retry_due


def test_a_tick_before_retry_due_does_nothing() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=10, MaxAttempts=2)]))
    d.submit()
    d.fail(TRANSIENT)
    due = d.job.retry_due
    assert due == T0 + timedelta(seconds=10)
    assert d.job.pending is None
    before = d.job
    assert d.tick(9.999) == []
    assert d.job is before

    commands = d.tick_at(due)
    assert [type(c) for c in commands] == [RequestStep, EmitStatus]
    (request,) = requests(commands)
    assert request.request.step_run_id == "job-1/work/2"
    assert request.request.attempt == 2
    assert request.request.deadline == due + timedelta(seconds=99_999_999)
    assert d.job.retry_due is None
    assert d.job.pending is not None
    assert d.job.pending.requested_at == due
    assert status_event(commands).event.attempt == 2


def test_a_late_tick_retries_once() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=10, MaxAttempts=2)]))
    d.submit()
    d.fail(TRANSIENT)
    assert len(requests(d.tick(3600))) == 1
    assert d.tick(1) == []


def test_scheduling_a_retry_emits_a_processing_status() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=10, MaxAttempts=2)]))
    d.submit()
    commands = d.fail(TRANSIENT, "broker away")
    assert [type(c) for c in commands] == [EmitStatus]
    status = status_event(commands).event
    assert (status.status, status.state, status.attempt, status.error) == (
        JobStatus.PROCESSING,
        "work",
        1,
        None,
    )
    assert "broker away" in status.message
    assert "retry 1 of 2" in status.message


def test_zero_delay_requests_the_retry_at_once() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=0, MaxAttempts=1)]))
    d.submit()
    commands = d.fail(TRANSIENT)
    (request,) = requests(commands)
    assert request.request.attempt == 2
    assert d.job.retry_due is None


def test_unmatched_error_is_caught_without_retry() -> None:
    d = Driver()
    d.submit()
    commands = d.fail(ErrorCode.INPUT_INVALID, "not a video")
    assert requests(commands) == []
    assert manifests(commands)[0].status is JobStatus.FAILED
    assert d.job.attempts == {"audio-extraction": 1}


def test_each_retrier_counts_its_own_attempts() -> None:
    d = Driver(
        one_step(
            retry=[
                {"ErrorEquals": ["TRANSIENT_DEPENDENCY"], "IntervalSeconds": 1, "MaxAttempts": 1},
                {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1},
            ]
        )
    )
    d.submit()
    d.fail(TRANSIENT)  # first retrier: 1 of 1
    d.tick(1)
    d.fail(ErrorCode.INTERNAL)  # States.ALL retrier: 1 of 1
    d.tick(1)
    assert d.pending.attempt == 3
    assert d.job.retries == [1, 1]
    d.fail(ErrorCode.INTERNAL)
    assert d.job.status is JobStatus.FAILED


def test_retry_counters_start_afresh_in_each_state() -> None:
    d = Driver()
    d.submit()
    delays(d, 3)  # audio-extraction used all three
    d.succeed()
    assert d.pending.state == "transcription"
    assert d.job.retries == [0]
    assert len(delays(d, 3)) == 3
    d.succeed()
    assert d.pending.state == "smart-cut-planner"


def test_result_of_the_failed_attempt_is_ignored_after_the_retry() -> None:
    d = Driver(one_step(retry=[retrier(IntervalSeconds=1, MaxAttempts=2)]))
    d.submit()
    first = d.pending.step_run_id
    d.fail(TRANSIENT)
    assert d.succeed(run=first) == []  # while waiting
    d.tick(1)
    assert d.succeed(run=first) == []  # after the new attempt started
    assert d.fail(TRANSIENT, run=first) == []
    assert d.pending.step_run_id == "job-1/work/2"
    commands = d.succeed()
    assert manifests(commands)[0].status is JobStatus.COMPLETED


def test_retry_during_the_wait_survives_a_tick_stream() -> None:
    d = Driver(PIPELINE)
    d.submit()
    d.fail(TRANSIENT)
    due = d.job.retry_due
    assert due is not None
    fired = []
    while d.now < due + timedelta(seconds=1):
        commands = d.send(Tick(d.now))
        fired += requests(commands)
        d.advance(0.25)
    assert len(fired) == 1
    assert not any(isinstance(c, SetManifest) for _, cs in d.log[1:] for c in cs)
