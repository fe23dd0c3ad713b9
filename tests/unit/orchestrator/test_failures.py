"""Catch → mark-failed with the error recorded, timeouts and heartbeat timeouts via Tick, and the
ways a job fails outside Catch (uncaught, the job's own timeout, no choice matched)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from talkavocado_common.events.models import StepError
from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus
from talkavocado_common.pipeline import Command, EmitStatus, SetManifest, error_info
from talkavocado_common.pipeline.transition import MAX_LOST_EXECUTIONS

from .helpers import (
    T0,
    Driver,
    machine,
    manifests,
    one_step,
    requests,
    status_event,
    task,
)

TIMEOUTS = ["States.Timeout", "States.HeartbeatTimeout"]


def test_catch_records_the_error_and_marks_the_job_failed() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    assert d.pending.state == "transcription"
    commands = d.fail(ErrorCode.CODEC_UNSUPPORTED, "opus in avi")

    assert [type(c) for c in commands] == [SetManifest, EmitStatus]
    (mark,) = manifests(commands)
    expected = ErrorInfo(
        code=ErrorCode.CODEC_UNSUPPORTED, message="opus in avi", step="transcription"
    )
    assert (mark.status, mark.error) == (JobStatus.FAILED, expected)

    status = status_event(commands).event
    assert status.status is JobStatus.FAILED
    assert status.state == "job-failed"
    assert status.error == StepError(code=ErrorCode.CODEC_UNSUPPORTED, message="opus in avi")
    assert "transcription" in status.message

    row = d.job
    assert row.context["error"] == {
        "Error": "CODEC_UNSUPPORTED",
        "Cause": "opus in avi",
        "State": "transcription",
    }
    assert row.context["results"] == {"audio_extraction": {"did": "audio-extraction"}}
    assert (row.status, row.error, row.failed_state) == (
        JobStatus.FAILED,
        expected,
        "transcription",
    )
    assert row.ended
    assert row.pending is None
    assert row.retry_due is None


def test_progress_is_kept_when_a_job_fails() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    d.succeed()
    before = d.job.progress
    assert before == pytest.approx(2 / 7)
    commands = d.fail(ErrorCode.INTERNAL)
    assert status_event(commands).event.progress == before


def test_uncaught_error_fails_the_job_directly() -> None:
    d = Driver(machine({"work": task()}))
    d.submit()
    commands = d.fail(ErrorCode.INPUT_NOT_FOUND, "no input")
    (mark,) = manifests(commands)
    assert mark.status is JobStatus.FAILED
    assert mark.error == ErrorInfo(code=ErrorCode.INPUT_NOT_FOUND, message="no input", step="work")
    assert d.job.ended
    assert d.job.failed_state == "work"
    assert "error" not in d.job.context


def test_catch_may_route_to_a_fallback_that_completes() -> None:
    m = machine(
        {
            "work": task(
                next="done",
                catch=[
                    {"ErrorEquals": ["INPUT_INVALID"], "ResultPath": "$.why", "Next": "fallback"}
                ],
            ),
            "fallback": task("render:smart-cut-planner", next="done", result_path="$.fallback"),
            "done": {"Type": "Succeed"},
        }
    )
    d = Driver(m)
    d.submit()
    d.fail(ErrorCode.INPUT_INVALID, "odd")
    assert d.pending.state == "fallback"
    assert d.job.context["why"]["Error"] == "INPUT_INVALID"
    d.succeed()
    assert d.job.status is JobStatus.COMPLETED
    assert d.job.failed_state is None


def test_fail_state_without_mark_failed_records_the_error() -> None:
    m = machine(
        {
            "work": task(
                next="done",
                catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "stop"}],
            ),
            "stop": {"Type": "Fail", "Error": "Broken", "Cause": "see error"},
            "done": {"Type": "Succeed"},
        }
    )
    d = Driver(m)
    d.submit()
    (mark,) = manifests(d.fail(ErrorCode.INPUT_INVALID, "bad"))
    assert mark.error == ErrorInfo(code=ErrorCode.INPUT_INVALID, message="bad", step="work")


def test_fail_state_reached_by_a_choice_uses_its_own_error() -> None:
    m = machine(
        {
            "gate": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.options.transitions.enabled",
                        "BooleanEquals": True,
                        "Next": "work",
                    }
                ],
                "Default": "refuse",
            },
            "work": task(),
            "refuse": {"Type": "Fail", "Error": "NotAllowed", "Cause": "transitions required"},
        }
    )
    d = Driver(m)
    (mark, _) = d.submit()
    assert isinstance(mark, SetManifest)
    assert mark.error == ErrorInfo(
        code=ErrorCode.INTERNAL, message="transitions required", step=None
    )
    assert d.job.ended
    assert d.job.status is JobStatus.FAILED
    assert d.retry() == []  # nothing to resume from


def test_no_choice_matched_fails_the_job() -> None:
    m = machine(
        {
            "gate": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.options.transitions.enabled",
                        "BooleanEquals": True,
                        "Next": "work",
                    }
                ],
            },
            "work": task(),
        }
    )
    d = Driver(m)
    (mark, _) = d.submit()
    assert isinstance(mark, SetManifest)
    assert mark.status is JobStatus.FAILED
    assert mark.error is not None
    assert (mark.error.code, mark.error.step) == (ErrorCode.INTERNAL, "gate")
    assert "no choice matched" in mark.error.message


def test_a_pass_loop_without_steps_fails_instead_of_spinning() -> None:
    m = machine({"a": {"Type": "Pass", "Next": "b"}, "b": {"Type": "Pass", "Next": "a"}})
    d = Driver(m)
    (mark, _) = d.submit()
    assert isinstance(mark, SetManifest)
    assert mark.status is JobStatus.FAILED
    assert mark.error is not None
    assert "without running a step" in mark.error.message


# ---- TimeoutSeconds and HeartbeatSeconds -------------------------------------------------------


def test_step_timeout_fires_on_the_first_tick_at_the_deadline() -> None:
    d = Driver(
        one_step(
            timeout=60,
            retry=[{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 1}],
        )
    )
    d.submit()
    assert d.tick(59.9) == []
    commands = d.tick_at(T0 + timedelta(seconds=60))
    assert [type(c) for c in commands] == [EmitStatus]
    assert "States.Timeout" in status_event(commands).event.message
    assert d.job.pending is None
    assert d.job.retry_due == T0 + timedelta(seconds=65)

    d.tick(5)
    assert d.pending.attempt == 2
    assert d.pending.deadline == T0 + timedelta(seconds=125)
    commands = d.tick(60)
    (mark,) = manifests(commands)
    assert mark.status is JobStatus.FAILED
    assert mark.error == ErrorInfo(
        code=ErrorCode.TIMEOUT, message="the step did not finish within 60 s", step="work"
    )
    assert d.job.context["error"]["Error"] == "States.Timeout"


def lose_worker(d: Driver, times: int, *, heartbeat: float = 30) -> list[Command]:
    """Start the pending step under a new run token, then let it go silent, `times` times; the
    commands of the last silence."""
    commands: list[Command] = []
    for _ in range(times):
        d.heartbeat(0.1, token=f"exec-{d.pending.attempt}-{len(d.pending.runs)}")
        commands = d.tick(heartbeat)
    return commands


def test_a_step_not_started_has_no_heartbeat_clock() -> None:
    # A request waiting in its topic (behind another job's step, or for a worker to come back)
    # is not failed for missing heartbeats: only TimeoutSeconds bounds it.
    d = Driver(one_step(timeout=600, heartbeat=30))
    d.submit()
    assert d.pending.heartbeat_deadline is None
    assert d.tick(599) == []
    commands = d.tick(1)
    (mark,) = manifests(commands)
    assert mark.error == ErrorInfo(
        code=ErrorCode.TIMEOUT, message="the step did not finish within 600 s", step="work"
    )


def test_the_heartbeat_clock_starts_at_the_first_beat() -> None:
    d = Driver(one_step(timeout=600, heartbeat=30))
    d.submit()
    d.advance(100)  # queued
    d.heartbeat(0.0, "started", token="a")
    assert d.pending.started_at == d.now
    assert d.pending.heartbeat_deadline == d.now + timedelta(seconds=30)
    assert d.tick(29) == []


def test_a_silent_worker_is_lost_not_failed_and_the_rerun_goes_on() -> None:
    d = Driver(one_step(timeout=600, heartbeat=30))
    d.submit()
    d.heartbeat(0.3, token="a")
    commands = d.tick(30)  # silent: its worker died
    assert manifests(commands) == []
    assert not requests(commands)  # the request is still in its topic: redelivered
    assert (d.pending.attempt, d.pending.lost, d.pending.silent) == (1, 1, True)
    assert d.pending.heartbeat_deadline == d.now + timedelta(seconds=60)  # the restart window
    assert d.job.retry_due is None  # not a failure: no retry
    assert "deemed lost (1 of" in status_event(commands).event.message
    assert d.tick(59) == []
    commands = d.heartbeat(0.0, token="b")  # the restarted worker runs it again
    assert (d.pending.lost, d.pending.silent, d.pending.runs) == (1, False, ["a", "b"])
    assert "started again" in status_event(commands).event.message
    assert d.heartbeat(0.9, token="a") == []  # the superseded execution: ignored
    d.succeed()
    assert d.job.status is JobStatus.COMPLETED


def test_a_step_nothing_ran_again_is_requested_again_without_spending_retries() -> None:
    d = Driver(one_step(timeout=600, heartbeat=30, retry=[{"ErrorEquals": ["States.ALL"]}]))
    d.submit()
    d.heartbeat(0.3, token="a")
    d.tick(30)  # lost
    (request,) = requests(d.tick(60))  # and nothing re-ran it (a stale row, a lost request)
    assert request.request.attempt == 2
    assert (d.pending.attempt, d.pending.lost, d.pending.silent) == (2, 1, False)
    assert d.pending.heartbeat_deadline is None  # not started yet
    assert d.job.retries == [0]


def test_a_worker_restarted_before_the_silence_counts_as_lost() -> None:
    d = Driver(one_step(timeout=600, heartbeat=30))
    d.submit()
    d.heartbeat(0.3, token="a")
    d.advance(5)
    d.heartbeat(0.0, token="b")  # a new execution while "a" still counted as alive
    assert d.pending.lost == 1
    d.tick(30)  # and "b" goes silent too
    assert (d.pending.lost, d.pending.silent) == (2, True)


def test_a_late_heartbeat_of_the_same_execution_refunds_the_loss() -> None:
    # The orchestrator was down or behind: the beats were only late.
    d = Driver(one_step(timeout=600, heartbeat=30))
    d.submit()
    d.heartbeat(0.3, token="a")
    d.tick(31)
    assert d.pending.lost == 1
    d.heartbeat(0.4, token="a")
    assert (d.pending.lost, d.pending.silent) == (0, False)
    assert d.pending.heartbeat_deadline == d.now + timedelta(seconds=30)


def test_the_crash_budget_spent_fails_the_run_with_heartbeat_timeout() -> None:
    d = Driver(one_step(timeout=6000, heartbeat=30))
    d.submit()
    lose_worker(d, MAX_LOST_EXECUTIONS)
    assert not d.job.ended
    commands = lose_worker(d, 1)
    (mark,) = manifests(commands)
    assert mark.error is not None
    assert mark.error.message == (
        f"no heartbeat from the step for 30 s; its worker was lost {MAX_LOST_EXECUTIONS + 1} times"
    )
    assert d.job.context["error"]["Error"] == "States.HeartbeatTimeout"


def test_heartbeats_extend_the_heartbeat_deadline_not_the_timeout() -> None:
    d = Driver(one_step(timeout=100, heartbeat=30))
    d.submit()
    for _ in range(4):  # at 20, 40, 60, 80 s
        d.advance(20)
        commands = d.heartbeat(0.1)
        assert d.pending.heartbeat_deadline == d.now + timedelta(seconds=30)
        assert d.pending.last_heartbeat == d.now
        assert [type(c) for c in commands] == [EmitStatus]
        assert d.tick() == []
    commands = d.tick_at(T0 + timedelta(seconds=100))
    assert manifests(commands)[0].error is not None
    assert d.job.context["error"]["Error"] == "States.Timeout"


@pytest.mark.parametrize("error", TIMEOUTS)
def test_default_pipeline_retries_timeouts_then_fails_with_timeout(error: str) -> None:
    d = Driver()
    d.submit()
    d.succeed()  # → transcription: timeout 3600 s, heartbeat 30 s
    for attempt in range(1, 5):
        assert d.pending.attempt == attempt
        if error == "States.Timeout":
            while d.now < d.pending.deadline - timedelta(seconds=20):  # keep the heartbeat alive
                d.advance(20)
                d.heartbeat(0.2)
            d.tick_at(d.pending.deadline)
        else:
            lose_worker(d, MAX_LOST_EXECUTIONS + 1)
        if attempt < 4:
            assert d.job.retry_due is not None
            d.tick_at(d.job.retry_due)
    assert d.job.status is JobStatus.FAILED
    assert d.job.error is not None
    assert (d.job.error.code, d.job.error.step) == (ErrorCode.TIMEOUT, "transcription")
    assert d.job.context["error"]["Error"] == error


def test_earliest_expiry_wins_when_both_deadlines_passed() -> None:
    d = Driver(one_step(timeout=60, heartbeat=30))
    d.submit()
    d.advance(5)
    d.heartbeat(0.1)
    d.tick(1000)  # both passed; the heartbeat deadline (35 s) came first: the worker is lost
    assert (d.job.ended, d.pending.silent) == (False, True)
    d.tick()  # and the step's own deadline fails it
    assert d.job.context["error"]["Error"] == "States.Timeout"


def test_timeout_not_retried_is_caught() -> None:
    d = Driver(one_step(timeout=10, retry=[{"ErrorEquals": ["TRANSIENT_DEPENDENCY"]}]))
    d.submit()
    (mark,) = manifests(d.tick(10))
    assert mark.error is not None
    assert mark.error.code is ErrorCode.TIMEOUT


def test_a_result_arriving_before_the_timeout_tick_is_accepted() -> None:
    d = Driver(one_step(timeout=10))
    d.submit()
    d.advance(15)  # past the deadline, but no tick has seen it yet
    commands = d.succeed()
    assert manifests(commands)[0].status is JobStatus.COMPLETED


def test_a_result_after_the_timeout_fired_is_ignored() -> None:
    d = Driver(
        one_step(timeout=10, retry=[{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 3}])
    )
    d.submit()
    first = d.pending.step_run_id
    d.tick(10)
    assert d.succeed(run=first) == []
    d.tick(3)
    assert d.succeed(run=first) == []
    assert d.pending.attempt == 2


def test_the_jobs_own_timeout_fails_it_whatever_the_step_is_doing() -> None:
    m = machine(
        {"work": task(retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 99}])},
        TimeoutSeconds=100,
    )
    d = Driver(m)
    d.submit()
    assert d.job.deadline == T0 + timedelta(seconds=100)
    d.advance(50)
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)  # waiting to retry
    commands = d.tick_at(T0 + timedelta(seconds=100))
    (mark,) = manifests(commands)
    assert mark.error == ErrorInfo(
        code=ErrorCode.TIMEOUT, message="the job did not finish within 100 s", step="work"
    )
    assert d.job.ended
    assert d.job.failed_state == "work"
    assert requests(commands) == []


def test_the_job_deadline_wins_over_a_step_deadline_on_the_same_tick() -> None:
    d = Driver()  # the pipeline's TimeoutSeconds is 6 h; audio-extraction's is 30 min
    d.submit()
    (mark,) = manifests(d.tick_at(T0 + timedelta(hours=6)))
    assert mark.error == ErrorInfo(
        code=ErrorCode.TIMEOUT,
        message="the job did not finish within 21600 s",
        step="audio-extraction",
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("INPUT_INVALID", ErrorCode.INPUT_INVALID),
        ("INPUT_NOT_FOUND", ErrorCode.INPUT_NOT_FOUND),
        ("CODEC_UNSUPPORTED", ErrorCode.CODEC_UNSUPPORTED),
        ("TRANSIENT_DEPENDENCY", ErrorCode.TRANSIENT_DEPENDENCY),
        ("TIMEOUT", ErrorCode.TIMEOUT),
        ("INTERNAL", ErrorCode.INTERNAL),
        ("States.Timeout", ErrorCode.TIMEOUT),
        ("States.HeartbeatTimeout", ErrorCode.TIMEOUT),
        ("States.NoChoiceMatched", ErrorCode.INTERNAL),
        ("JobFailed", ErrorCode.INTERNAL),
    ],
)
def test_error_info_maps_asl_errors_to_codes(raw: str, code: ErrorCode) -> None:
    info = error_info({"Error": raw, "Cause": "why", "State": "s"})
    assert info == ErrorInfo(code=code, message="why", step="s")


def test_error_info_tolerates_a_partial_error_object() -> None:
    assert error_info({}) == ErrorInfo(code=ErrorCode.INTERNAL, message="", step=None)
    assert error_info({"State": 3}).step is None


def test_a_row_whose_state_left_the_document_fails_cleanly() -> None:
    d = Driver(one_step())
    d.submit()
    run = d.pending.step_run_id
    d.machine = machine({"other": task()})  # the orchestrator restarted with another document
    commands = d.succeed(run=run)
    (mark,) = manifests(commands)
    assert mark.status is JobStatus.FAILED
    assert mark.error is not None
    assert "'work' is not a Task" in mark.error.message
    assert d.retry() == []
