"""job.render-requested: a review revision runs the revision document (contracts/revision.asl.
json) from video-cuts on, over the ended job's row or without one, with the revision in the step
input; a request while the job runs, an old or repeated revision and a cancelled job are
ignored, and an orchestrator without the revision document ignores it."""

from __future__ import annotations

from talkavocado_common.events import JobRenderRequested, JobResumeRequested, JobRetryRequested
from talkavocado_common.models import ErrorCode, JobOptions, JobStatus

from .helpers import (
    STEPS,
    STEPS_WITH_TRANSITIONS,
    Driver,
    manifests,
    requests,
    status_event,
)

REVISION_STEPS = STEPS[3:]  # video-cuts, subtitles-post-edit, timeline-export, branding-layer


def render_requested(revision: int = 2, *, transitions: bool = False) -> JobRenderRequested:
    return JobRenderRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        revision=revision,
        manifest_key="test/tenant-a/job-1/manifest.json",
        options=JobOptions.model_validate({"transitions": {"enabled": transitions}}),
    )


def completed() -> Driver:
    d = Driver()
    d.submit()
    d.run_to_end()
    assert d.job.status is JobStatus.COMPLETED
    return d


def test_a_revision_of_a_completed_job_runs_from_video_cuts() -> None:
    d = completed()
    runs_before = dict(d.job.attempts)
    commands = d.send(render_requested(2))
    # The manifest says processing again before the first step is asked for.
    assert [m.status for m in manifests(commands)] == [JobStatus.PROCESSING]
    (request,) = requests(commands)
    assert request.request.state == "video-cuts"
    assert request.request.input["revision"] == 2
    # Step run ids continue after the first run's: none is used twice.
    assert request.request.step_run_id == f"job-1/video-cuts/{runs_before['video-cuts'] + 1}"
    assert status_event(commands).event.revision == 2
    assert d.run_to_end() == REVISION_STEPS
    assert d.job.status is JobStatus.COMPLETED
    assert d.job.progress == 1.0
    assert status_event(d.log[-1][1]).event.revision == 2


def test_the_revision_takes_the_documents_choice() -> None:
    d = completed()
    d.send(render_requested(2, transitions=True))
    assert d.run_to_end() == STEPS_WITH_TRANSITIONS[3:]


def test_a_revision_without_a_row_starts_one_numbering_runs_after_the_manifests() -> None:
    d = Driver()
    # The manifest counts two runs of video-cuts (the edit's and revision 2's): a first run
    # here would be taken by the workers for a superseded one and dropped.
    event = render_requested(3).model_copy(update={"attempts": {"video-cuts": 2, "upload": 1}})
    commands = d.send(event)
    (request,) = requests(commands)
    assert (request.request.state, request.request.step_run_id) == (
        "video-cuts",
        "job-1/video-cuts/3",
    )
    assert d.job.revision == 3
    assert d.run_to_end() == REVISION_STEPS
    assert d.job.attempts["subtitles-post-edit"] == 1


def test_a_revision_numbers_runs_after_the_row_or_the_manifest_whichever_is_further() -> None:
    d = completed()  # the row counts one run of each step
    event = render_requested(2).model_copy(update={"attempts": {"branding-layer": 4}})
    d.send(event)
    assert d.pending.step_run_id == "job-1/video-cuts/2"
    d.run_to_end()
    assert d.job.attempts["branding-layer"] == 5


def test_requests_while_running_old_or_repeated_revisions_are_ignored() -> None:
    running = Driver()
    running.submit()
    assert running.send(render_requested(2)) == []  # the edit is still running
    d = completed()
    d.send(render_requested(2))
    assert d.send(render_requested(3)) == []  # revision 2 is still rendering
    d.run_to_end()
    assert d.send(render_requested(2)) == []  # repeated
    assert d.send(render_requested(3)) != []  # newer: runs
    d.run_to_end()
    assert d.job.revision == 3


def test_a_cancelled_job_is_not_rendered_again() -> None:
    d = Driver()
    d.submit()
    d.cancel()
    assert d.send(render_requested(2)) == []
    assert d.job.status is JobStatus.CANCELLED


def test_a_failed_revision_is_retried_within_the_revision_document() -> None:
    d = completed()
    d.send(render_requested(2))
    d.succeed()  # video-cuts
    d.fail(ErrorCode.INPUT_INVALID)  # subtitles-post-edit: not retried by the document
    assert d.job.status is JobStatus.FAILED
    assert d.job.failed_state == "subtitles-post-edit"
    d.retry()
    assert d.pending.state == "subtitles-post-edit"
    # Its third run over the job's life: the edit's, the revision's, the retry's.
    assert d.pending.step_run_id == "job-1/subtitles-post-edit/3"
    assert d.run_to_end() == REVISION_STEPS[1:]
    assert d.job.revision == 2


def test_without_the_revision_document_a_render_request_is_ignored() -> None:
    d = Driver(revision_machine=None)
    d.submit()
    d.run_to_end()
    row = d.job
    assert d.send(render_requested(2)) == []
    assert d.job is row


def test_a_revision_that_lost_its_row_resumes_within_the_revision_document() -> None:
    d = Driver()
    resume = JobResumeRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        manifest_key="test/tenant-a/job-1/manifest.json",
        status=JobStatus.PROCESSING,
        succeeded=["video-cuts"],
        attempts={"video-cuts": 2, "subtitles-post-edit": 2},
        revision=2,
    )
    commands = d.send(resume)
    (request,) = requests(commands)
    assert request.request.state == "subtitles-post-edit"
    assert request.request.input["revision"] == 2
    assert request.request.step_run_id == "job-1/subtitles-post-edit/3"
    assert d.job.revision == 2
    assert d.run_to_end() == REVISION_STEPS[1:]
    # A retry carrying a failed revision's record resumes it the same way.
    failed = resume.model_copy(update={"status": JobStatus.FAILED})
    retried = Driver()
    retried.send(JobRetryRequested(**retried.ref(), resume=failed))
    assert retried.pending.state == "subtitles-post-edit"
    assert retried.job.revision == 2
