"""A job through the real contracts/pipeline.asl.json: order, context, choice, status, progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from talkavocado_common.models import JobStatus
from talkavocado_common.pipeline import EmitStatus, RequestStep, SetManifest
from talkavocado_common.pipeline.transition import PLATFORM_RESOURCES

from .helpers import (
    STEPS,
    STEPS_WITH_TRANSITIONS,
    T0,
    TRACE,
    Driver,
    machine,
    manifests,
    requests,
    status_event,
    statuses,
    submitted,
    task,
)


def test_submission_marks_processing_and_requests_the_first_step() -> None:
    d = Driver()
    commands = d.submit()

    assert [type(c) for c in commands] == [SetManifest, RequestStep, EmitStatus]
    mark, request, status = commands
    assert isinstance(mark, SetManifest)
    assert isinstance(request, RequestStep)
    assert isinstance(status, EmitStatus)
    assert (mark.status, mark.error) == (JobStatus.PROCESSING, None)
    assert (mark.job.job_id, mark.job.tenant_id, mark.job.env) == ("job-1", "tenant-a", "test")

    assert request.service == "audio"
    step = request.request
    assert step.step_run_id == "job-1/audio-extraction/1"
    assert (step.state, step.service, step.step, step.attempt) == (
        "audio-extraction",
        "audio",
        "audio-extraction",
        1,
    )
    assert step.deadline == T0 + timedelta(seconds=1800)
    assert step.heartbeat_seconds == 30
    assert step.input == {
        "jobId": "job-1",
        "tenantId": "tenant-a",
        "env": "test",
        "options": submitted().options.to_jsonable(),
    }

    event = status.event
    assert (event.status, event.state, event.attempt, event.progress) == (
        JobStatus.PROCESSING,
        "audio-extraction",
        1,
        0.0,
    )
    assert event.error is None

    row = d.job
    assert row.status is JobStatus.PROCESSING
    assert row.state == "audio-extraction"
    assert row.attempts == {"audio-extraction": 1}
    assert row.pending is not None
    assert row.pending.deadline == T0 + timedelta(seconds=1800)
    assert row.pending.heartbeat_deadline is None  # the clock starts with the worker's beat
    assert row.deadline == T0 + timedelta(seconds=21600)
    assert row.manifest_key == "test/tenant-a/job-1/manifest.json"
    assert not row.ended


@pytest.mark.parametrize(
    ("transitions", "expected"),
    [(False, STEPS), (True, STEPS_WITH_TRANSITIONS)],
    ids=["transitions-off", "transitions-on"],
)
def test_whole_pipeline_follows_the_transitions_choice(
    transitions: bool, expected: list[str]
) -> None:
    d = Driver()
    d.submit(transitions=transitions)
    assert d.run_to_end() == expected

    final = d.log[-1][1]
    assert [type(c) for c in final] == [SetManifest, EmitStatus]
    assert manifests(final)[0].status is JobStatus.COMPLETED
    assert manifests(final)[0].error is None
    done = status_event(final).event
    assert (done.status, done.state, done.progress) == (JobStatus.COMPLETED, "mark-complete", 1.0)
    assert d.job.status is JobStatus.COMPLETED
    assert d.job.ended
    assert d.job.pending is None
    assert d.job.retry_due is None


def test_each_step_sees_the_results_of_the_earlier_ones() -> None:
    d = Driver()
    d.submit(transitions=True)
    inputs = {}
    while not d.job.ended:
        state = d.pending.state
        (request,) = requests(d.log[-1][1])
        inputs[state] = request.request.input
        d.succeed({"out": f"{state}.json"})

    assert "results" not in inputs["audio-extraction"]
    assert inputs["transcription"]["results"] == {
        "audio_extraction": {"out": "audio-extraction.json"}
    }
    assert set(inputs["branding-layer"]["results"]) == {
        "audio_extraction",
        "transcription",
        "smart_cut_planner",
        "video_cuts",
        "video_transitions",
        "subtitles_post_edit",
        "timeline_export",
    }
    assert inputs["branding-layer"]["options"]["transitions"]["enabled"] is True
    assert d.job.context["results"]["branding_layer"] == {"out": "branding-layer.json"}


def test_services_and_topics_follow_the_resources() -> None:
    d = Driver()
    d.submit(transitions=True)
    services = {}
    while not d.job.ended:
        (request,) = requests(d.log[-1][1])
        services[request.request.state] = request.service
        assert request.request.step in PLATFORM_RESOURCES[request.service]
        d.succeed()
    assert services == {
        "audio-extraction": "audio",
        "transcription": "transcribe",
        "smart-cut-planner": "render",
        "video-cuts": "render",
        "video-transitions": "render",
        "subtitles-post-edit": "render",
        "timeline-export": "render",
        "branding-layer": "render",
    }


def test_every_transition_emits_one_status_last_and_carries_the_trace() -> None:
    d = Driver()
    d.submit()
    d.heartbeat(0.5)
    d.run_to_end()
    for _, commands in d.log:
        assert len(statuses(commands)) == 1
        assert isinstance(commands[-1], EmitStatus)
        assert all(c.trace == TRACE for c in commands)


@pytest.mark.parametrize("transitions", [False, True])
def test_progress_is_the_share_of_steps_done(transitions: bool) -> None:
    d = Driver()
    d.submit(transitions=transitions)
    steps = STEPS_WITH_TRANSITIONS if transitions else STEPS
    figures = []
    while not d.job.ended:
        figures.append(status_event(d.heartbeat(0.5)).event.progress)
        figures.append(status_event(d.succeed()).event.progress)
    n = len(steps)
    expected = []
    for k in range(n):
        expected += [pytest.approx((k + 0.5) / n), pytest.approx((k + 1) / n)]
    assert figures == expected
    assert figures == sorted(figures)
    assert figures[-1] == 1.0


def test_state_and_status_reported_on_each_step() -> None:
    d = Driver()
    d.submit()
    reported = [(status_event(d.log[-1][1]).event.state, status_event(d.log[-1][1]).event.status)]
    while not d.job.ended:
        reported.append((status_event(d.succeed()).event.state, d.job.status))
    assert reported == [(s, JobStatus.PROCESSING) for s in STEPS] + [
        ("mark-complete", JobStatus.COMPLETED)
    ]


def test_pass_and_succeed_states_and_a_document_without_mark_states() -> None:
    m = machine(
        {
            "defaults": {
                "Type": "Pass",
                "Result": {"mode": "fast"},
                "ResultPath": "$.extra",
                "Next": "work",
            },
            "work": task(next="choose"),
            "choose": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.extra.mode", "StringEquals": "fast"},
                            {"Not": {"Variable": "$.results.step.skip", "IsPresent": True}},
                        ],
                        "Next": "done",
                    }
                ],
                "Default": "work",
            },
            "done": {"Type": "Succeed"},
        }
    )
    d = Driver(m)
    first = d.submit()
    # No mark-processing: the job is requested but its status stays pending until it ends.
    assert [type(c) for c in first] == [RequestStep, EmitStatus]
    assert requests(first)[0].request.input["extra"] == {"mode": "fast"}
    assert d.job.status is JobStatus.PENDING

    final = d.succeed({"n": 1})
    assert [type(c) for c in final] == [SetManifest, EmitStatus]
    assert manifests(final)[0].status is JobStatus.COMPLETED
    assert d.job.state == "done"
    assert d.job.ended


def test_a_choice_loop_back_requests_the_step_again_with_a_new_run_id() -> None:
    m = machine(
        {
            "work": task(next="again?"),
            "again?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.results.step.more", "BooleanEquals": True, "Next": "work"}
                ],
                "Default": "end",
            },
            "end": {"Type": "Succeed"},
        }
    )
    d = Driver(m)
    d.submit()
    d.succeed({"more": True})
    assert d.pending.step_run_id == "job-1/work/2"
    d.succeed({"more": False})
    assert d.job.ended
    assert d.job.status is JobStatus.COMPLETED
