"""The worker's pure logic: requests from events, time limits, heartbeat pacing, replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from talkavocado_common.events import (
    StepFailed,
    StepHeartbeat,
    StepRequested,
    StepSucceeded,
    new_event,
)
from talkavocado_common.kafka import trace_id
from talkavocado_common.models import ErrorCode
from talkavocado_common.steps import StepError
from talkavocado_common.worker import (
    build_step_request,
    heartbeat_interval,
    next_beat,
    seconds_left,
)
from talkavocado_common.worker.core import clamp_progress, failed, heartbeat, reply, succeeded

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def requested(**changes: object) -> StepRequested:
    values: dict[str, object] = {
        "job_id": "job-1",
        "tenant_id": "acme",
        "env": "test",
        "step_run_id": "job-1/transcription/2",
        "state": "transcription",
        "service": "transcribe",
        "step": "transcription",
        "attempt": 2,
        "input": {"options": {"planner": {"minPauseMs": 800}}, "audio": {"wav": "x.wav"}},
        "deadline": NOW + timedelta(minutes=5),
        "heartbeat_seconds": 30,
        **changes,
    }
    return StepRequested.model_validate(values)


def test_request_takes_keys_options_and_context_from_the_event() -> None:
    req = build_step_request(requested())
    assert req.step == "transcription"
    assert (req.keys.env, req.keys.tenant_id, req.keys.job_id) == ("test", "acme", "job-1")
    assert req.options.planner.min_pause_ms == 800
    assert req.options.planner.padding_ms == 120  # defaults fill the rest
    assert req.context["audio"] == {"wav": "x.wav"}


def test_a_review_revisions_request_gets_that_revisions_keys() -> None:
    req = build_step_request(requested(input={"revision": 3}))
    assert req.keys.revision == 3
    assert req.keys.final_render == "test/acme/job-1/revisions/3/renders/final.mp4"
    assert build_step_request(requested()).keys.revision is None


def test_request_without_options_uses_defaults() -> None:
    req = build_step_request(requested(input={}))
    assert req.options.planner.min_pause_ms == 1000
    assert req.context == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenant_id": "Not_Valid!"}, "invalid tenant id"),
        ({"job_id": "../etc"}, "invalid job id"),
        ({"input": {"options": {"planner": {"minPauseMs": 5}}}}, "planner.minPauseMs"),
        ({"input": {"options": {"nope": 1}}}, "invalid options: nope"),
        ({"input": {"options": "fast"}}, "invalid options"),
        ({"input": {"revision": 1}}, "reviews count from 2"),
        ({"input": {"revision": "../2"}}, "revision must be a whole number"),
    ],
)
def test_bad_ids_or_options_are_input_invalid(changes: dict[str, object], message: str) -> None:
    with pytest.raises(StepError) as info:
        build_step_request(requested(**changes))
    assert info.value.code == ErrorCode.INPUT_INVALID
    assert message in info.value.message


def test_seconds_left_until_the_deadline() -> None:
    assert seconds_left(NOW + timedelta(seconds=90), NOW) == 90
    assert seconds_left(NOW - timedelta(seconds=1), NOW) == -1


def test_heartbeat_every_third_of_heartbeat_seconds() -> None:
    assert heartbeat_interval(30, 60) == 10
    assert heartbeat_interval(None, 60) == 20
    assert heartbeat_interval(0.01, 60) == 0.05  # floor


def test_beats_stay_on_their_grid_and_skip_missed_ones() -> None:
    assert next_beat(100.0, 10.0, 100.0) == 110.0
    assert next_beat(100.0, 10.0, 104.2) == 110.0  # a slow send does not shift the grid
    assert next_beat(100.0, 10.0, 110.0) == 120.0
    assert next_beat(100.0, 10.0, 135.0) == 140.0  # missed beats are skipped, not bursted
    assert next_beat(100.0, 10.0, 99.0) == 100.0


def test_progress_is_clamped() -> None:
    assert clamp_progress(-0.5) == 0
    assert clamp_progress(1.7) == 1
    assert clamp_progress(float("nan")) == 0
    assert heartbeat(requested(), 3.0, "x" * 1000).progress == 1
    assert len(heartbeat(requested(), 0.5, "x" * 1000).message) == 500


def test_replies_keep_subject_tenant_correlation_and_trace() -> None:
    req = requested()
    request = new_event(
        "step.requested",
        req,
        source="/talkavocado/orchestrator",
        subject="job-1",
        tenant_id="acme",
        correlation_id="corr-9",
        traceparent=TRACE,
    )
    payloads = [
        heartbeat(req, 0.25, "decoding"),
        succeeded(req, {"k": 1}, 1.23456),
        failed(req, ErrorCode.TIMEOUT, "too slow", 2.0),
    ]
    events = [reply(p, request, source="/talkavocado/transcribe") for p in payloads]
    assert [e.type for e in events] == ["step.heartbeat", "step.succeeded", "step.failed"]
    for event in events:
        assert (event.subject, event.tenantid, event.correlationid) == ("job-1", "acme", "corr-9")
        assert trace_id(event.traceparent) == trace_id(TRACE)
        assert event.traceparent != TRACE  # a span of its own under the request's
        assert event.source == "/talkavocado/transcribe"
        event.payload()  # valid against its type
    ok = events[1].payload()
    assert isinstance(ok, StepSucceeded)
    assert ok.duration_sec == 1.235
    assert ok.step_run_id == "job-1/transcription/2"
    bad = events[2].payload()
    assert isinstance(bad, StepFailed)
    assert (bad.error.code, bad.error.message) == (ErrorCode.TIMEOUT, "too slow")
    beat = events[0].payload()
    assert isinstance(beat, StepHeartbeat)
    assert (beat.progress, beat.message, beat.state) == (0.25, "decoding", "transcription")


def test_reply_without_trace_starts_one() -> None:
    request = new_event(
        "step.requested", requested(), source="/x", subject="job-1", tenant_id="acme"
    )
    event = reply(heartbeat(requested(), 0, ""), request, source="/y")
    assert trace_id(event.traceparent) is not None
