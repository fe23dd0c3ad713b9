"""job.resume-requested: a processing job that lost its row resumes from its first unfinished
step, walking the document (its Choice included) rather than a fixed list; a live or ended row
ignores it."""

from __future__ import annotations

from talkavocado_common.events import JobResumeRequested, JobRetryRequested
from talkavocado_common.models import ErrorCode, JobOptions, JobStatus
from talkavocado_common.pipeline import SetManifest
from talkavocado_common.pipeline.transition import resume_point

from .helpers import (
    PIPELINE,
    STEPS,
    STEPS_WITH_TRANSITIONS,
    Driver,
    machine,
    manifests,
    requests,
    task,
)


def resume_event(
    succeeded: list[str],
    *,
    transitions: bool = False,
    status: JobStatus = JobStatus.PROCESSING,
    attempts: dict[str, int] | None = None,
) -> JobResumeRequested:
    return JobResumeRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        manifest_key="test/tenant-a/job-1/manifest.json",
        options=JobOptions.model_validate({"transitions": {"enabled": transitions}}),
        status=status,
        succeeded=succeeded,
        attempts=attempts if attempts is not None else dict.fromkeys(succeeded, 1),
    )


def test_a_job_without_a_row_resumes_at_its_first_unfinished_step() -> None:
    d = Driver()
    commands = d.send(
        resume_event(["audio-extraction"], attempts={"audio-extraction": 1, "transcription": 1})
    )
    (request,) = requests(commands)
    assert request.request.state == "transcription"
    # Step run ids continue after the runs the manifest records: a late result of the run from
    # before the restart is not taken for the new one.
    assert request.request.step_run_id == "job-1/transcription/2"
    assert (d.job.status, d.job.done) == (JobStatus.PROCESSING, ["audio-extraction"])
    assert manifests(commands) == []  # the manifest already says processing
    assert d.run_to_end() == STEPS[1:]
    assert d.job.status is JobStatus.COMPLETED
    assert [m.status for m in manifests(d.log[-1][1])] == [JobStatus.COMPLETED]


def test_resuming_follows_the_documents_choice() -> None:
    done = STEPS_WITH_TRANSITIONS[:4]
    with_transitions = Driver()
    with_transitions.send(resume_event(done, transitions=True))
    assert with_transitions.pending.state == "video-transitions"
    without = Driver()
    without.send(resume_event(done, transitions=False))
    assert without.pending.state == "subtitles-post-edit"


def test_a_job_whose_steps_all_succeeded_is_marked_complete() -> None:
    d = Driver()
    commands = d.send(resume_event(STEPS))
    assert requests(commands) == []
    assert [m.status for m in manifests(commands) if isinstance(m, SetManifest)] == [
        JobStatus.COMPLETED
    ]
    assert d.job.ended
    assert d.job.status is JobStatus.COMPLETED


def test_a_second_resume_and_a_late_submission_are_ignored() -> None:
    d = Driver()
    d.send(resume_event(["audio-extraction"]))
    row = d.job
    assert d.send(resume_event(["audio-extraction"])) == []
    assert d.submit() == []
    assert d.job is row


def test_an_ended_row_ignores_a_resume() -> None:
    d = Driver()
    d.cancel()
    assert d.send(resume_event([])) == []
    assert d.job.status is JobStatus.CANCELLED


def test_only_a_processing_job_is_resumed() -> None:
    for status in (JobStatus.PENDING, JobStatus.FAILED, JobStatus.COMPLETED):
        d = Driver()
        assert d.send(resume_event([], status=status)) == []
        assert d.row is None


def test_a_resumed_job_fails_and_is_retried_like_any_other() -> None:
    d = Driver()
    d.send(resume_event(["audio-extraction"]))
    d.fail(ErrorCode.INPUT_INVALID)
    assert d.job.status is JobStatus.FAILED
    d.retry()
    assert d.pending.state == "transcription"
    assert d.run_to_end() == STEPS[1:]


def test_resume_point_passes_pass_states_and_stops_at_fail() -> None:
    doc = machine(
        {
            "mark-processing": task("orchestrator:mark-processing", next="note", result_path=None),
            "note": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.note", "Next": "work"},
            "work": task(next="stop"),
            "stop": {"Type": "Fail", "Error": "Stop"},
        }
    )
    point, skipped, context = resume_point(doc, {"jobId": "j"}, {"video-cuts"})
    assert (point, skipped) == ("stop", ["work"])
    assert context == {"jobId": "j", "note": {"x": 1}}
    assert resume_point(PIPELINE, {}, set())[:2] == ("audio-extraction", [])


# -- a retry of a failed job the orchestrator has forgotten (row expired, stack restarted) ------


def forgotten_retry(resume: JobResumeRequested | None) -> JobRetryRequested:
    return JobRetryRequested(job_id="job-1", tenant_id="tenant-a", env="test", resume=resume)


def test_a_retry_without_a_row_resumes_at_the_step_that_failed() -> None:
    d = Driver()
    failed = resume_event(
        STEPS[:3], status=JobStatus.FAILED, attempts={**dict.fromkeys(STEPS[:3], 1), STEPS[3]: 3}
    )
    commands = d.send(forgotten_retry(failed))
    (request,) = requests(commands)
    assert request.request.state == STEPS[3]
    assert request.request.step_run_id == f"job-1/{STEPS[3]}/4"  # after the 3 runs recorded
    # The manifest is told first that the job runs again, its error cleared.
    (status,) = manifests(commands)
    assert (status.status, status.error) == (JobStatus.PROCESSING, None)
    assert commands.index(status) < commands.index(request)
    assert not any(d.job.retries)  # fresh retry counters
    assert d.job.error is None
    assert d.run_to_end() == STEPS[3:]
    assert d.job.status is JobStatus.COMPLETED


def test_a_retry_without_a_row_or_the_manifests_record_is_ignored() -> None:
    d = Driver()
    assert d.send(forgotten_retry(None)) == []
    assert d.row is None


def test_a_retry_without_a_row_is_only_for_a_failed_job() -> None:
    for status in (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED):
        d = Driver()
        assert d.send(forgotten_retry(resume_event([], status=status))) == []
        assert d.row is None


def test_a_retry_carrying_the_manifests_record_is_applied_to_a_live_row_as_usual() -> None:
    d = Driver()
    d.submit()
    d.succeed()
    d.fail(ErrorCode.INPUT_INVALID)
    assert d.job.status is JobStatus.FAILED
    record = resume_event([STEPS[0]], status=JobStatus.FAILED)
    d.send(forgotten_retry(record))
    assert d.pending.state == STEPS[1]
    assert d.pending.step_run_id == f"job-1/{STEPS[1]}/2"
    # A duplicate of the retry while the job runs again changes nothing.
    assert d.send(forgotten_retry(record)) == []
